"""The members API (curators, their own projects only): list a project's people with their roles,
invite or create a person with a role, take a role away. One service each (core.services)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles, selectors, services
from core.access import RolePermission, project_for_user

PROJECT_PARAM = OpenApiParameter("project", str, description="Project slug (default: your first project)")


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField()
    roles = serializers.SerializerMethodField()

    def get_roles(self, user) -> list[str]:
        return [g.name for g in user.role_groups]


class MembersSerializer(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    roles = serializers.ListField(child=serializers.CharField())
    members = MemberSerializer(many=True)


class MemberInviteInputSerializer(serializers.Serializer):
    project = serializers.CharField(max_length=80, required=False, allow_blank=True)
    username = serializers.CharField(max_length=150, trim_whitespace=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=roles.ALL_ROLES)
    # Empty: a password is generated and answered once.
    password = serializers.CharField(
        max_length=128, required=False, allow_blank=True, trim_whitespace=False, write_only=True
    )


class MemberInvitedSerializer(serializers.Serializer):
    user = MemberSerializer()
    created = serializers.BooleanField()
    changed = serializers.BooleanField()
    generated_password = serializers.CharField(allow_null=True)
    detail = serializers.CharField()


class MemberRoleRemoveInputSerializer(serializers.Serializer):
    project = serializers.CharField(max_length=80, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=roles.ALL_ROLES)


class CuratorApi(APIView):
    permission_classes = [RolePermission(roles.CURATOR)]


class MemberListInviteApi(CuratorApi):
    @extend_schema(operation_id="members_list", parameters=[PROJECT_PARAM], responses=MembersSerializer)
    def get(self, request):
        """The people of a project the curator belongs to, with their roles."""
        project = project_for_user(request.user, request.query_params.get("project"))
        data = {
            "project": project,
            "roles": roles.ALL_ROLES,
            "members": selectors.members_of_project(project=project),
        }
        return Response(MembersSerializer(data).data)

    @extend_schema(
        operation_id="members_invite",
        request=MemberInviteInputSerializer,
        responses={201: MemberInvitedSerializer, 200: MemberInvitedSerializer},
    )
    def post(self, request):
        """Give a person a role in the project, creating them if needed (the service of
        `manage.py member_add`). A generated password is in the answer, once."""
        given = MemberInviteInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        project = project_for_user(request.user, given.validated_data.get("project"))
        result = services.member_invite(
            username=given.validated_data["username"],
            email=given.validated_data.get("email", ""),
            role=given.validated_data["role"],
            password=given.validated_data.get("password") or None,
            project=project,
            by=request.user,
        )
        name, role = result.user.username, roles.LABEL[given.validated_data["role"]]
        detail = (
            f"{name} is now {role} in {project.name}."
            if result.changed
            else f"{name} was already {role} in {project.name}."
        )
        if result.created:
            detail = f"Created {name}. " + detail
        out = {
            "user": selectors.member_roles_refresh(result.user),
            "created": result.created,
            "changed": result.changed,
            "generated_password": result.generated_password,
            "detail": detail,
        }
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(MemberInvitedSerializer(out).data, status=code)


class MemberRoleRemoveApi(CuratorApi):
    @extend_schema(
        operation_id="members_role_remove",
        request=MemberRoleRemoveInputSerializer,
        responses=MemberSerializer,
    )
    def post(self, request, pk: int):
        """Take a role from a person of the project; with no role left they leave it."""
        given = MemberRoleRemoveInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        project = project_for_user(request.user, given.validated_data.get("project"))
        user = selectors.member_of_project(project=project, pk=pk)
        services.member_role_remove(
            user=user, project=project, role=given.validated_data["role"], by=request.user
        )
        return Response(MemberSerializer(selectors.member_roles_refresh(user)).data)
