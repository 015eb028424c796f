from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("deskmail.api.urls")),
    path("graph/", include("deskmail.msgraph.urls")),
    path("", include("deskmail.console.urls")),
]
