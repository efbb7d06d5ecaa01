from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from webapp.api import views

router = DefaultRouter()
router.trailing_slash = "/?"  # /api/v1/searches and /api/v1/searches/ both work
router.register("searches", views.SearchViewSet, basename="search")
router.register("products", views.ProductViewSet, basename="product")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("jobs", views.JobViewSet, basename="job")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger"),
]
