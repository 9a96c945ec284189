from django.urls import path

from inference import apis, views

app_name = "inference"

urlpatterns = [
    path("inference/live/", views.live_page, name="live"),
    path("inference/quality/", views.quality_page, name="quality"),
    path("curation/quotas/", views.quotas_page, name="quotas"),
]

api_urlpatterns = [
    path("inference/", apis.InferenceApi.as_view(), name="predict"),
    path("inference/prelabeller/", apis.PrelabellerApi.as_view(), name="prelabeller"),
    path("inference/prelabel-jobs/", apis.PrelabelJobApi.as_view(), name="prelabel-jobs"),
    path("inference/prelabel-jobs/<int:pk>/", apis.PrelabelJobDetailApi.as_view(), name="prelabel-job"),
    path("inference/quality/", apis.QualityApi.as_view(), name="quality"),
    path("inference/predictions/", apis.PredictionListApi.as_view(), name="predictions"),
    path("inference/quotas/", apis.QuotaApi.as_view(), name="quotas"),
]
