from django.contrib.auth import views as auth_views
from django.urls import path

from bastion.console import views

app_name = "console"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("registry/", views.registry, name="registry"),
    path("registry/districts/<int:district_id>/", views.district, name="district"),
    path("registry/communities/<int:community_id>/", views.community, name="community"),
    path("registry/compounds/<int:compound_id>/", views.compound, name="compound"),
    path("registry/buildings/<int:building_id>/", views.building, name="building"),
    path("registry/households/<int:household_id>/", views.household, name="household"),
    path("registry/residents/<int:resident_id>/flags/", views.resident_flags, name="resident_flags"),
]
