from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path

from deskmail.api.problems import problem
from deskmail.api.site import api


def unknown(request: HttpRequest, rest: str) -> HttpResponse:
    """Anything else under /api/: a problem document too, not the site's HTML page."""
    return problem(404, f"no such endpoint: {request.path}; see /api/docs")


urlpatterns = [
    path("api/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", unknown, name="api-unknown"),
]
