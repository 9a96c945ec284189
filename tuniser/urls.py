from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotation.urls import api_urlpatterns as annotation_api
from core import views as core_views
from core.urls import api_urlpatterns as core_api
from corpus.urls import api_urlpatterns as corpus_api
from inference.urls import api_urlpatterns as inference_api
from releases.urls import api_urlpatterns as releases_api
from training.urls import api_urlpatterns as training_api

from . import views
from .forms import AdminLoginForm, LoginForm

admin.site.site_header = "TuniSER Studio administration"
admin.site.site_title = "TuniSER Studio"
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include((core_api, "core-api"))),
    path("api/", include((corpus_api, "corpus-api"))),
    path("api/", include((annotation_api, "annotation-api"))),
    path("api/", include((releases_api, "releases-api"))),
    path("api/", include((training_api, "training-api"))),
    path("api/", include((inference_api, "inference-api"))),
    path("", include("core.urls")),
    path("", include("corpus.urls")),
    path("", include("annotation.urls")),
    path("", include("releases.urls")),
    path("", include("training.urls")),
    path("", include("inference.urls")),
]

if settings.STORAGE_BACKEND == "filesystem":
    # Media (audio, manifests, exports) is served by Django after one access check (see
    # core.views.media and core.files). A deployment may put a proxy with auth_request in front.
    urlpatterns += [path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", core_views.media, name="media")]
