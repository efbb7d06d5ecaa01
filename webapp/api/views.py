"""The REST API, version 1. Reads are public; catalog writes need a staff session or token."""
from __future__ import annotations

import logging

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from engine.imageio import ImageError
from webapp.api import serializers as s
from webapp.api.permissions import AnyoneMaySearch
from webapp.catalog import services as catalog
from webapp.catalog.models import Category, Job, Product
from webapp.search import services as searches
from webapp.search.models import Search

log = logging.getLogger(__name__)

FILTER_PARAMETERS = [
    OpenApiParameter("category", str, description="category slug"),
    OpenApiParameter("min_price", float),
    OpenApiParameter("max_price", float),
]


class UploadThrottle(AnonRateThrottle):
    scope = "uploads"

    def allow_request(self, request, view):
        # The counts live in the cache (Redis on the scaled path). When it is down the upload goes on to the
        # queue, which answers a clear 503 if the broker is down too, instead of a 500 from the throttle.
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache backend's connection error
            log.warning("upload throttle skipped: the cache is unreachable", exc_info=True)
            return True


class SearchViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Upload a street photo; poll the search until its status is done or failed."""

    queryset = Search.objects.prefetch_related("garments")
    serializer_class = s.SearchSerializer
    permission_classes = [AnyoneMaySearch]
    parser_classes = [MultiPartParser, FormParser]

    def get_throttles(self):
        return [UploadThrottle()] if self.action == "create" else []

    @extend_schema(request={"multipart/form-data": s.SearchCreateSerializer}, responses={202: s.SearchSerializer})
    def create(self, request, *args, **kwargs):
        try:
            filters = searches.Filters.parse(request.data)
            search = searches.create_search(request.FILES.get("image"), filters)
        except (ImageError, ValueError) as error:
            return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        queued = searches.enqueue(search)
        if not queued:
            return Response({"error": searches.QUEUE_DOWN, "id": str(search.id)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        data = self.get_serializer(search).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": f"/api/v1/searches/{search.id}"})

    @extend_schema(parameters=FILTER_PARAMETERS)
    def retrieve(self, request, *args, **kwargs):
        """The search; with filters, its garments' results are re-ranked from the stored embeddings."""
        search = self.get_object()
        context = self.get_serializer_context()
        if search.status == "done" and any(request.query_params.get(k) for k in ("category", "min_price", "max_price")):
            try:
                filters = searches.Filters.parse(request.query_params)
                context["results"] = searches.refilter(search, filters)
            except ValueError as error:
                return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
            except searches.SearchUnavailable as error:
                return Response({"error": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(s.SearchSerializer(search, context=context).data)


class CategoryViewSet(viewsets.ModelViewSet):
    queryset = Category.objects.all()
    serializer_class = s.CategorySerializer
    pagination_class = None


class ProductViewSet(viewsets.ModelViewSet):
    """The catalog. Anonymous users see active products; staff see and edit all."""

    serializer_class = s.ProductSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        products = Product.objects.select_related("category").prefetch_related("images")
        if not (self.request.user and self.request.user.is_staff):
            products = products.searchable()
        if self.action != "list":
            return products
        params = self.request.query_params
        if params.get("category"):
            products = products.filter(category__slug=params["category"])
        if params.get("garment_type"):
            products = products.filter(garment_type=params["garment_type"])
        if params.get("q"):
            products = products.filter(title__icontains=params["q"])
        return products

    @extend_schema(parameters=FILTER_PARAMETERS, responses=s.ProductCardSerializer(many=True))
    @action(detail=True, methods=["get"])
    def similar(self, request, pk=None):
        """Products that look like this one ("more like this"), from its stored embedding."""
        product = self.get_object()
        try:
            filters = searches.Filters.parse(request.query_params)
            rows = catalog.similar_products(product, filters)
        except ValueError as error:
            return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        except searches.SearchUnavailable as error:
            return Response({"error": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        products = Product.objects.select_related("category").prefetch_related("images").in_bulk(
            [r["product_id"] for r in rows]
        )
        return Response([
            {"product": s.ProductCardSerializer(products[r["product_id"]]).data, "image_id": r["image_id"],
             "similarity": r["score"]}
            for r in rows if r["product_id"] in products
        ])

    @extend_schema(request={"multipart/form-data": s.ProductImageUploadSerializer},
                   responses={202: s.ProductImageSerializer})
    @action(detail=True, methods=["post"], url_path="images", permission_classes=[IsAdminUser])
    def add_image(self, request, pk=None):
        """Add an image to a product; it is indexed by a worker."""
        product = get_object_or_404(Product, pk=pk)
        try:
            image = catalog.add_image(product, request.FILES.get("image"))
        except ImageError as error:
            return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        transaction.on_commit(lambda: catalog.enqueue_indexing([image.pk]))
        return Response(s.ProductImageSerializer(image).data, status=status.HTTP_202_ACCEPTED)


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Import and re-index jobs with their progress and per-row errors (staff only)."""

    queryset = Job.objects.prefetch_related("errors")
    serializer_class = s.JobSerializer
    permission_classes = [IsAdminUser]
