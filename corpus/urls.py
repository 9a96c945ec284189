from django.urls import path

from corpus import apis, views

app_name = "corpus"

urlpatterns = [
    path("recordings/", views.recording_list, name="recording-list"),
    path("recordings/upload/", views.recording_upload, name="recording-upload"),
    path("recordings/<int:pk>/", views.recording_detail, name="recording-detail"),
    path("speakers/", views.speaker_list, name="speaker-list"),
]

api_urlpatterns = [
    path("recordings/", apis.RecordingListCreateApi.as_view(), name="recordings"),
    path("recordings/<int:pk>/", apis.RecordingDetailApi.as_view(), name="recording"),
    path("recordings/<int:pk>/clips/", apis.RecordingClipsApi.as_view(), name="recording-clips"),
    path("recordings/<int:pk>/summary/", apis.RecordingSummaryApi.as_view(), name="recording-summary"),
    path("recordings/<int:pk>/peaks/", apis.RecordingPeaksApi.as_view(), name="recording-peaks"),
    path("recordings/<int:pk>/segment/", apis.RecordingSegmentApi.as_view(), name="recording-segment"),
    path("recordings/<int:pk>/redecode/", apis.RecordingRedecodeApi.as_view(), name="recording-redecode"),
    path("segmentation-runs/<int:pk>/", apis.SegmentationRunDetailApi.as_view(), name="segmentation-run"),
    path("clips/<int:pk>/audio/", apis.ClipAudioApi.as_view(), name="clip-audio"),
    path("sources/", apis.SourceListApi.as_view(), name="sources"),
    path("recordings/<int:pk>/speakers/", apis.RecordingSpeakersApi.as_view(), name="recording-speakers"),
    path("series-speakers/", apis.SeriesSpeakerListApi.as_view(), name="series-speakers"),
    path("series-speakers/<int:pk>/", apis.SeriesSpeakerDetailApi.as_view(), name="series-speaker"),
    path(
        "series-speakers/<int:pk>/merge/", apis.SeriesSpeakerMergeApi.as_view(), name="series-speaker-merge"
    ),
    path(
        "speaker-clusters/<int:pk>/detach/",
        apis.SpeakerClusterDetachApi.as_view(),
        name="speaker-cluster-detach",
    ),
]
