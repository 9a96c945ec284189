from django.urls import path

from training import apis, views

app_name = "training"

urlpatterns = [
    path("training/runs/", views.run_list, name="run-list"),
    path("training/runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("training/compare/", views.compare, name="compare"),
]

api_urlpatterns = [
    path("training/runs/", apis.RunListCreateApi.as_view(), name="runs"),
    path("training/runs/<int:pk>/", apis.RunDetailApi.as_view(), name="run"),
    path("training/runs/<int:pk>/cancel/", apis.RunCancelApi.as_view(), name="run-cancel"),
    path("training/runs/<int:pk>/retry/", apis.RunRetryApi.as_view(), name="run-retry"),
    path("training/compare/", apis.CompareApi.as_view(), name="compare"),
    path("training/families/", apis.FamiliesApi.as_view(), name="families"),
    path("training/model-versions/", apis.ModelVersionListApi.as_view(), name="model-versions"),
    path("training/evaluations/", apis.EvaluationListCreateApi.as_view(), name="evaluations"),
    path("training/evaluations/<int:pk>/", apis.EvaluationDetailApi.as_view(), name="evaluation"),
]
