"""Settings like a production Elastic Beanstalk Django app: DEBUG off, strict ALLOWED_HOSTS."""
import os

EB_HOST = "myapp.eba-abc123.us-east-1.elasticbeanstalk.com"
CUSTOM_DOMAIN = os.environ.get("CUSTOM_DOMAIN", "api.example.test")

DEBUG = False
SECRET_KEY = "e2e-only-not-secret"
ALLOWED_HOSTS = [EB_HOST] + [h for h in CUSTOM_DOMAIN.split(",") if h]
ROOT_URLCONF = "ebapp.urls"
WSGI_APPLICATION = "ebapp.wsgi.application"
INSTALLED_APPS = []
DATABASES = {}
USE_TZ = True
MIDDLEWARE = [
    "ebapp.views.served_by_middleware",          # outermost: tags every response, 400s too
    "django.middleware.common.CommonMiddleware",  # calls get_host(): DisallowedHost -> 400
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.security.DisallowedHost": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
