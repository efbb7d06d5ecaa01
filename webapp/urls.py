from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from webapp.search import views as pages

admin.site.site_header = "StreetShop catalog"
admin.site.site_title = "StreetShop"

urlpatterns = [
    path("", pages.upload_page, name="upload"),
    path("search/<uuid:search_id>/", pages.results_page, name="results"),
    path("products/<int:product_id>/", pages.product_page, name="product"),
    path("admin/", admin.site.urls),
    path("api/", include("webapp.api.urls")),
    # Media (catalog images and shoppers' photos) are served by Django in the embedded setup;
    # a deployment puts them behind its web server or object storage instead.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
