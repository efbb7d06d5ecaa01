"""The merchandisers' admin: catalog with thumbnails and landmark previews, imports, re-indexing, jobs."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from webapp.catalog import reports, services
from webapp.catalog.forms import ImportForm
from webapp.catalog.models import Category, IndexState, Job, JobError, Product, ProductImage
from webapp.catalog.previews import landmark_preview


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "garment_type", "product_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_products=Count("products"))

    @admin.display(description="products", ordering="_products")
    def product_count(self, category):
        return category._products


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0
    fields = ["preview", "image", "position", "index_state", "index_error", "indexed_with"]
    readonly_fields = ["preview", "index_state", "index_error", "indexed_with"]

    @admin.display(description="landmarks")
    def preview(self, image):
        return landmark_preview(image, 120)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "sku", "title", "brand", "price", "currency", "category", "garment_type", "active",
                    "index_summary"]
    list_display_links = ["sku", "title"]
    list_filter = ["active", "garment_type", "category"]
    search_fields = ["sku", "title", "brand"]
    list_select_related = ["category"]
    inlines = [ProductImageInline]
    actions = ["activate", "deactivate", "reindex_selected"]
    change_list_template = "admin/catalog/product/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("images").annotate(
            _indexed=Count("images", filter=Q(images__index_state=IndexState.INDEXED)),
            _failed=Count("images", filter=Q(images__index_state=IndexState.FAILED)),
            _images=Count("images"),
        )

    def get_urls(self):
        extra = [
            path("import/", self.admin_site.admin_view(self.import_view), name="catalog_product_import"),
            path("reindex-all/", self.admin_site.admin_view(self.reindex_all_view), name="catalog_product_reindex_all"),
            path("reports/", self.admin_site.admin_view(self.reports_view), name="catalog_product_reports"),
            path("reports/<str:name>/", self.admin_site.admin_view(self.reports_view), name="catalog_product_report"),
            path("reports/<str:name>/<str:filename>", self.admin_site.admin_view(self.report_image_view),
                 name="catalog_product_report_image"),
        ]
        return extra + super().get_urls()

    @admin.display(description="")
    def thumbnail(self, product):
        image = product.main_image
        if image is None or not image.image:
            return "-"
        return format_html('<img src="{}" style="height:56px;border-radius:4px" alt="">', image.image.url)

    @admin.display(description="index")
    def index_summary(self, product):
        text = f"{product._indexed}/{product._images} indexed"
        return f"{text}, {product._failed} failed" if product._failed else text

    @admin.action(description="Activate selected products (back in search)")
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected products (out of search at once)")
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description="Re-index the images of the selected products")
    def reindex_selected(self, request, queryset):
        ids = list(ProductImage.objects.filter(product__in=queryset).values_list("pk", flat=True))
        job = services.reindex_images(ids, request.user)
        self._job_message(request, job)

    def reindex_all_view(self, request):
        if request.method != "POST":
            return render(request, "admin/catalog/confirm_reindex_all.html",
                          {**self.admin_site.each_context(request), "opts": self.model._meta,
                           "images": ProductImage.objects.count()})
        job = services.reindex_catalog(request.user)
        self._job_message(request, job)
        return HttpResponseRedirect(reverse("admin:catalog_job_change", args=[job.pk]))

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = form.run(request.user)
            self._job_message(request, job)
            return HttpResponseRedirect(reverse("admin:catalog_job_change", args=[job.pk]))
        return render(request, "admin/catalog/import.html",
                      {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                       "title": "Import products"})

    def reports_view(self, request, name: str | None = None):
        """The model quality reports: the list, and one report rendered (how to read it is in each report)."""
        html = None
        if name is not None:
            html = reports.render_report(
                name, lambda report, file: reverse("admin:catalog_product_report_image", args=[report, file])
            )
            if html is None:
                raise Http404(f"no report named {name!r}")
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Model reports",
            "reports": reports.list_reports(), "reports_dir": reports.reports_dir(), "current": name,
            "report_html": mark_safe(html) if html else None,  # noqa: S308 - rendered from escaped Markdown
        }
        return render(request, "admin/catalog/reports.html", context)

    def report_image_view(self, request, name: str, filename: str):
        path = reports.report_image(name, filename)
        if path is None:
            raise Http404("no such plot")
        return FileResponse(open(path, "rb"), content_type="image/png")

    def _set_active(self, request, queryset, active: bool):
        # save() per product so that the signal pushes the flag to the vector index
        for product in queryset:
            if product.active != active:
                product.active = active
                product.save(update_fields=["active", "updated"])
        self.message_user(request, f"{queryset.count()} products {'activated' if active else 'deactivated'}.")

    def _job_message(self, request, job):
        url = reverse("admin:catalog_job_change", args=[job.pk])
        self.message_user(request, format_html('Job <a href="{}">#{}</a> queued: {}', url, job.pk, job.description),
                          messages.SUCCESS)


@admin.register(ProductImage)
class ProductImageAdmin(admin.ModelAdmin):
    list_display = ["preview", "product", "position", "index_state", "index_error", "indexed_at"]
    list_filter = ["index_state", "extractor_key"]
    search_fields = ["product__sku", "product__title"]
    list_select_related = ["product"]
    readonly_fields = ["preview_large", "index_state", "index_error", "indexed_with", "indexed_at", "extractor_key",
                       "garment", "width", "height"]
    actions = ["reindex_selected"]

    @admin.display(description="landmarks")
    def preview(self, image):
        return landmark_preview(image, 96)

    @admin.display(description="landmarks")
    def preview_large(self, image):
        return landmark_preview(image, 360)

    @admin.action(description="Re-index selected images")
    def reindex_selected(self, request, queryset):
        job = services.reindex_images(list(queryset.values_list("pk", flat=True)), request.user)
        self.message_user(request, f"Job #{job.pk} queued: {job.description}")


class JobErrorInline(admin.TabularInline):
    model = JobError
    extra = 0
    can_delete = False
    fields = ["line", "reference", "message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress_bar", "done", "failed", "total", "created", "finished"]
    list_filter = ["kind", "status"]
    readonly_fields = ["kind", "status", "description", "progress_bar", "total", "done", "failed", "message",
                       "created_by", "created", "finished"]
    inlines = [JobErrorInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def progress_bar(self, job):
        percent = round(job.progress * 100)
        return format_html(
            '<progress value="{}" max="100" title="{}%" data-job="{}"></progress> {}%', percent, percent, job.pk,
            percent,
        )
