from django.contrib.auth import views as auth_views
from django.urls import path

from bastion.console import views, views_outbreak, views_testing

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
    path("zones/", views_outbreak.zone_list, name="zones"),
    path("zones/map/", views_outbreak.zone_map, name="zone_map"),
    path("zones/<int:zone_id>/", views_outbreak.zone_detail, name="zone"),
    path("zones/<int:zone_id>/confirm/", views_outbreak.zone_confirm, name="zone_confirm"),
    path("zones/<int:zone_id>/reject/", views_outbreak.zone_reject, name="zone_reject"),
    path("zones/<int:zone_id>/lift/", views_outbreak.zone_lift, name="zone_lift"),
    path("zones/<int:zone_id>/adjust/", views_outbreak.zone_adjust, name="zone_adjust"),
    path("zones/<int:zone_id>/screening/", views_outbreak.zone_screening, name="zone_screening"),
    path("my-zone/", views_outbreak.my_zone, name="my_zone"),
    path("bulletin/", views_outbreak.bulletin, name="bulletin"),
    path("bulletin/print/", views_outbreak.bulletin_print, name="bulletin_print"),
    path("cases/", views_outbreak.case_list, name="cases"),
    path("cases/new/", views_outbreak.case_new, name="case_new"),
    path("cases/batch/", views_outbreak.case_batch, name="case_batch"),
    path("protocol/", views_outbreak.protocol_page, name="protocol"),
    path("cases/<int:case_id>/", views_outbreak.case_detail, name="case"),
    path("cases/<int:case_id>/convert/", views_outbreak.case_convert, name="case_convert"),
    path("cases/<int:case_id>/discharge/", views_outbreak.case_discharge, name="case_discharge"),
    path("cases/<int:case_id>/contacts/", views_outbreak.contact_add, name="contact_add"),
    path("testing/", views_testing.round_list, name="testing"),
    path("testing/<int:round_id>/", views_testing.round_progress, name="testing_round"),
    path("testing/<int:round_id>/close/", views_testing.round_close, name="testing_close"),
    path("testing/<int:round_id>/exceptions/", views_testing.round_issues, name="testing_issues"),
    path("testing/<int:round_id>/coverage/", views_testing.coverage, name="testing_coverage"),
    path("testing/<int:round_id>/grids/<int:grid_id>/", views_testing.grid_page, name="testing_grid"),
    path(
        "testing/<int:round_id>/grids/<int:grid_id>/print/",
        views_testing.grid_print,
        name="testing_grid_print",
    ),
    path("testing/<int:round_id>/recalls/", views_testing.recalls, name="testing_recalls"),
]
