from django.urls import path

from deskmail.msgraph import views

urlpatterns = [
    path("notifications/", views.notifications, name="graph-notifications"),
]
