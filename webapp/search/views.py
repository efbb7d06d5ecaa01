"""The shopper's pages. They are thin: the page scripts talk to the API (/api/v1/...)."""
from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from webapp.catalog.models import Category, Product
from webapp.search.models import Search


def upload_page(request):
    return render(request, "search/upload.html", {"categories": Category.objects.all()})


def results_page(request, search_id):
    search = get_object_or_404(Search, pk=search_id)
    return render(request, "search/results.html", {"search": search, "categories": Category.objects.all()})


def product_page(request, product_id: int):
    products = Product.objects.select_related("category").prefetch_related("images")
    if not request.user.is_staff:
        products = products.searchable()
    product = get_object_or_404(products, pk=product_id)
    return render(request, "catalog/product.html", {"product": product})
