from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from bastion.console.views import bulletin, cases, delivery, registry, supply, testing, zones
from bastion.core.inputs import IdConverter

register_converter(IdConverter, "id")

app_name = "console"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", registry.home, name="home"),
    path("registry/", registry.registry, name="registry"),
    path("registry/districts/<id:district_id>/", registry.district, name="district"),
    path("registry/communities/<id:community_id>/", registry.community, name="community"),
    path("registry/compounds/<id:compound_id>/", registry.compound, name="compound"),
    path("registry/buildings/<id:building_id>/", registry.building, name="building"),
    path("registry/households/<id:household_id>/", registry.household, name="household"),
    path("registry/residents/<id:resident_id>/flags/", registry.resident_flags, name="resident_flags"),
    path("zones/", zones.zone_list, name="zones"),
    path("zones/map/", zones.zone_map, name="zone_map"),
    path("zones/<id:zone_id>/", zones.zone_detail, name="zone"),
    path("zones/<id:zone_id>/confirm/", zones.zone_confirm, name="zone_confirm"),
    path("zones/<id:zone_id>/reject/", zones.zone_reject, name="zone_reject"),
    path("zones/<id:zone_id>/lift/", zones.zone_lift, name="zone_lift"),
    path("zones/<id:zone_id>/adjust/", zones.zone_adjust, name="zone_adjust"),
    path("zones/<id:zone_id>/screening/", zones.zone_screening, name="zone_screening"),
    path("zones/<id:zone_id>/cycle/", delivery.zone_cycle, name="zone_cycle"),
    path("my-zone/", zones.my_zone, name="my_zone"),
    path("bulletin/", bulletin.bulletin, name="bulletin"),
    path("bulletin/print/", bulletin.bulletin_print, name="bulletin_print"),
    path("cases/", cases.case_list, name="cases"),
    path("cases/new/", cases.case_new, name="case_new"),
    path("cases/batch/", cases.case_batch, name="case_batch"),
    path("protocol/", cases.protocol_page, name="protocol"),
    path("cases/<id:case_id>/", cases.case_detail, name="case"),
    path("cases/<id:case_id>/convert/", cases.case_convert, name="case_convert"),
    path("cases/<id:case_id>/discharge/", cases.case_discharge, name="case_discharge"),
    path("cases/<id:case_id>/contacts/", cases.contact_add, name="contact_add"),
    path("testing/", testing.round_list, name="testing"),
    path("testing/<id:round_id>/", testing.round_progress, name="testing_round"),
    path("testing/<id:round_id>/close/", testing.round_close, name="testing_close"),
    path("testing/<id:round_id>/exceptions/", testing.round_issues, name="testing_issues"),
    path("testing/<id:round_id>/coverage/", testing.coverage, name="testing_coverage"),
    path("testing/<id:round_id>/grids/<id:grid_id>/", testing.grid_page, name="testing_grid"),
    path(
        "testing/<id:round_id>/grids/<id:grid_id>/print/",
        testing.grid_print,
        name="testing_grid_print",
    ),
    path("testing/<id:round_id>/recalls/", testing.recalls, name="testing_recalls"),
    path("tasks/", delivery.volunteer_tasks, name="volunteer_tasks"),
    path("tasks/<id:task_id>/claim/", delivery.task_claim, name="task_claim"),
    path("orders/<id:order_id>/deliver/", delivery.order_deliver, name="order_deliver"),
    path("orders/<id:order_id>/fail/", delivery.order_fail, name="order_fail"),
    path("my-orders/", delivery.my_orders, name="my_orders"),
    path("deliveries/", delivery.dispatch_board, name="dispatch"),
    path("deliveries/print/", delivery.dispatch_print, name="dispatch_print"),
    path("deliveries/export.csv", delivery.dispatch_export, name="dispatch_export"),
    path("deliveries/orders/", delivery.proxy_order, name="proxy_order"),
    path("supply/", supply.supply_page, name="supply"),
]
