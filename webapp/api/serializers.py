"""JSON shapes of the API (and of the pages' scripts, which use the same endpoints)."""
from __future__ import annotations

from rest_framework import serializers

from webapp.catalog.models import Category, Job, JobError, Product, ProductImage
from webapp.search.models import Search, SearchGarment


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "garment_type"]


class ProductImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = ProductImage
        fields = ["id", "url", "position", "width", "height", "index_state", "index_error", "indexed_with", "garment"]
        read_only_fields = fields

    def get_url(self, image: ProductImage) -> str:
        return image.image.url if image.image else ""


class ProductSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all(), allow_null=True,
                                            required=False)
    category_name = serializers.CharField(source="category.name", read_only=True, default="")
    images = ProductImageSerializer(many=True, read_only=True)
    thumbnail = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["id", "sku", "title", "brand", "price", "currency", "product_url", "category", "category_name",
                  "garment_type", "attributes", "active", "thumbnail", "images", "created", "updated"]
        read_only_fields = ["id", "created", "updated", "images", "thumbnail", "category_name"]

    def get_thumbnail(self, product: Product) -> str:
        image = product.main_image
        return image.image.url if image and image.image else ""

    def validate_attributes(self, value):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise serializers.ValidationError("attributes must be a list of words, e.g. [\"floral\", \"sleeveless\"]")
        return [v.strip() for v in value]

    def validate_currency(self, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise serializers.ValidationError("currency must be a three-letter ISO 4217 code such as EUR")
        return value.upper()


class ProductCardSerializer(serializers.ModelSerializer):
    """A product as a search result shows it."""

    category = serializers.CharField(source="category.slug", read_only=True, default="")
    category_name = serializers.CharField(source="category.name", read_only=True, default="")
    thumbnail = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["id", "sku", "title", "brand", "price", "currency", "product_url", "category", "category_name",
                  "garment_type", "thumbnail"]

    def get_thumbnail(self, product: Product) -> str:
        image = product.main_image
        return image.image.url if image and image.image else ""


class ProductImageUploadSerializer(serializers.Serializer):
    image = serializers.ImageField()


class SearchCreateSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="A JPEG, PNG or WebP photo")
    category = serializers.CharField(required=False, allow_blank=True, help_text="category slug")
    min_price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False, allow_null=True)
    max_price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False, allow_null=True)


class SearchGarmentSerializer(serializers.ModelSerializer):
    results = serializers.SerializerMethodField()
    attributes = serializers.SerializerMethodField()

    class Meta:
        model = SearchGarment
        fields = ["position", "garment_type", "box", "score", "landmarks", "category", "category_scores",
                  "attributes", "results"]

    def get_attributes(self, garment: SearchGarment) -> list[dict]:
        """The garment's likely attributes, most likely first."""
        ranked = sorted(garment.attributes.items(), key=lambda item: -item[1])
        return [{"name": name, "score": round(score, 3)} for name, score in ranked if score >= 0.5][:6]

    def get_results(self, garment: SearchGarment) -> list[dict]:
        rows = self.context.get("results", {}).get(garment.position, garment.results)
        products = self.context["products"]
        return [
            {"product": ProductCardSerializer(products[row["product_id"]], context=self.context).data,
             "image_id": row["image_id"], "similarity": row["score"]}
            for row in rows if row["product_id"] in products
        ]


class SearchSerializer(serializers.ModelSerializer):
    photo = serializers.SerializerMethodField()
    garments = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Search
        fields = ["id", "status", "error", "url", "photo", "width", "height", "filters", "plugins", "timings_ms",
                  "created", "started", "finished", "garments"]

    def get_photo(self, search: Search) -> str:
        return search.photo.url if search.photo else ""

    def get_url(self, search: Search) -> str:
        return f"/search/{search.id}/"

    def get_garments(self, search: Search) -> list[dict]:
        garments = list(search.garments.all())
        results = self.context.get("results") or {}
        wanted = {row["product_id"] for g in garments for row in results.get(g.position, g.results)}
        products = Product.objects.searchable().select_related("category").prefetch_related("images").in_bulk(wanted)
        context = {**self.context, "products": products}
        return SearchGarmentSerializer(garments, many=True, context=context).data


class JobErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobError
        fields = ["line", "reference", "message"]


class JobSerializer(serializers.ModelSerializer):
    errors = JobErrorSerializer(many=True, read_only=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "description", "total", "done", "failed", "progress", "message", "created",
                  "finished", "errors"]
