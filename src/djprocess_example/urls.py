"""The example project's URLs: the web UI at ``/`` and the Django admin at ``/admin/``."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from djprocess_example import views

__all__ = ["urlpatterns"]

ui: list[URLPattern | URLResolver] = [
    path("", views.process_list, name="process_list"),
    path("processes/new/", views.create, name="create"),
    path("processes/<int:pk>/", views.process_detail, name="process_detail"),
    path("processes/<int:pk>/logs/", views.log_lines, name="log_lines"),
    path("processes/<int:pk>/<str:action>/", views.operate, name="operate"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="djprocess_example/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("", include((ui, "djprocess_example"))),
]
