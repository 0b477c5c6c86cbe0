import json
import os
import time

from django.http import HttpResponse, JsonResponse

COLOUR = os.environ.get("COLOUR", "none")


def served_by_middleware(get_response):
    def middleware(request):
        response = get_response(request)
        response["X-Served-By"] = COLOUR
        return response
    return middleware


def _seen(request):
    m = request.META
    return {
        "host": m.get("HTTP_HOST"),
        "x_forwarded_for": m.get("HTTP_X_FORWARDED_FOR"),
        "x_forwarded_proto": m.get("HTTP_X_FORWARDED_PROTO"),
        "x_forwarded_port": m.get("HTTP_X_FORWARDED_PORT"),
        "x_forwarded_host": m.get("HTTP_X_FORWARDED_HOST"),
        "x_request_id": m.get("HTTP_X_REQUEST_ID"),
        "connection": m.get("HTTP_CONNECTION"),
        "remote_addr": m.get("REMOTE_ADDR"),
        "path": request.get_full_path(),
        "method": request.method,
        "headers": {k[5:].replace("_", "-").lower(): v for k, v in m.items() if k.startswith("HTTP_")},
        "colour": COLOUR,
        "pid": os.getpid(),
    }


def whoami(request):
    request.get_host()  # validate like any real view would
    return JsonResponse(_seen(request))


def slow(request):
    s = float(request.GET.get("s", "5"))
    time.sleep(min(s, 30.0))
    body = _seen(request)
    body["slept"] = s
    return JsonResponse(body)


def status(request, code):
    return HttpResponse(f"status {code} from {COLOUR}\n", status=code, content_type="text/plain")


def health(request):
    return HttpResponse(json.dumps({"ok": True, "colour": COLOUR}), content_type="application/json")
