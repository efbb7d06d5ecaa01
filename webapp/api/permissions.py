"""Anyone may read the catalog and run searches; only staff may write the catalog."""
from rest_framework.permissions import SAFE_METHODS, BasePermission


class StaffWritesOnly(BasePermission):
    message = "Only staff accounts may change the catalog; sign in as staff or send a staff token."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class AnyoneMaySearch(BasePermission):
    """Searches are created anonymously (uploads are throttled instead)."""

    def has_permission(self, request, view) -> bool:
        return True
