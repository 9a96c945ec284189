from django.urls import path

from releases import apis, views

app_name = "releases"

urlpatterns = [
    path("curation/releases/", views.releases_page, name="releases"),
]

api_urlpatterns = [
    path("releases/", apis.ReleaseListCreateApi.as_view(), name="releases"),
    path("releases/<int:pk>/", apis.ReleaseDetailApi.as_view(), name="release"),
    path("releases/<int:pk>/exports/", apis.ReleaseExportCreateApi.as_view(), name="release-export"),
    path("release-exports/<int:pk>/", apis.ReleaseExportDetailApi.as_view(), name="release-export-detail"),
]
