from django.urls import path

from core import apis, views

app_name = "core"

urlpatterns = [
    path("curation/members/", views.members_page, name="members"),
]

api_urlpatterns = [
    path("members/", apis.MemberListInviteApi.as_view(), name="members"),
    path("members/<int:pk>/remove-role/", apis.MemberRoleRemoveApi.as_view(), name="member-role-remove"),
]
