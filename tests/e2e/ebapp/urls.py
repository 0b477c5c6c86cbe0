from django.urls import path

from . import views

urlpatterns = [
    path("whoami", views.whoami),
    path("slow", views.slow),
    path("status/<int:code>", views.status),
    path("health", views.health),
    path("", views.whoami),
]
