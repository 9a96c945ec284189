from django.urls import path

from annotation import apis, views

app_name = "annotation"

urlpatterns = [
    path("validate/", views.validate_page, name="validate"),
    path("annotate/", views.annotate_page, name="annotate"),
    path("curation/progress/", views.progress_page, name="progress"),
    path("curation/rejected/", views.rejected_page, name="rejected"),
    path("curation/dashboard/", views.dashboard_page, name="dashboard"),
    path("curation/adjudication/", views.adjudication_page, name="adjudication"),
    path("curation/checks/", views.checks_page, name="checks"),
]

api_urlpatterns = [
    path("annotation/schema/", apis.SchemaApi.as_view(), name="schema"),
    path("annotation/next/", apis.LabellingNextApi.as_view(), name="next"),
    path("annotation/annotations/", apis.AnnotationSubmitApi.as_view(), name="submit"),
    path("annotation/skip/", apis.LabellingSkipApi.as_view(), name="skip"),
    path("annotation/flag/", apis.FlagApi.as_view(), name="flag"),
    path("annotation/me/", apis.MyCountsApi.as_view(), name="me"),
    path("annotation/progress/", apis.ProgressApi.as_view(), name="progress"),
    path("annotation/checks/", apis.GoldCheckListApi.as_view(), name="checks"),
    path("annotation/checks/<int:pk>/", apis.GoldCheckApi.as_view(), name="check"),
    path(
        "annotation/annotators/<int:pk>/standing/",
        apis.AnnotatorStandingApi.as_view(),
        name="annotator-standing",
    ),
    path("validation/next/", apis.ValidationNextApi.as_view(), name="validation-next"),
    path("validation/votes/", apis.ValidationVoteApi.as_view(), name="validation-vote"),
    path("validation/skip/", apis.ValidationSkipApi.as_view(), name="validation-skip"),
    path("validation/rejected/", apis.RejectedApi.as_view(), name="validation-rejected"),
    path("clips/", apis.ClipListApi.as_view(), name="clips"),
    path("validation/decisions/", apis.DecisionApi.as_view(), name="validation-decision"),
    path("agreement/", apis.AgreementApi.as_view(), name="agreement"),
    path("agreement/annotators/", apis.DawidSkeneApi.as_view(), name="annotator-confusions"),
    path("consensus/recompute/", apis.ConsensusRecomputeApi.as_view(), name="consensus-recompute"),
    path("adjudication/", apis.AdjudicationQueueApi.as_view(), name="adjudication-queue"),
    path("adjudication/decisions/", apis.AdjudicateApi.as_view(), name="adjudicate"),
    path("annotation/quotas/", apis.QuotaTargetListApi.as_view(), name="quota-targets"),
    path("annotation/quotas/<int:pk>/", apis.QuotaTargetDetailApi.as_view(), name="quota-target"),
]
