"""Two ways to stream: the class-based view and the function view, same engine.

GET /stream/<topicA,topicB>?since=…     KafkaSSEView
GET /fn/<topicA,topicB>?since=…         stream_view
"""

from django.conf import settings
from django.urls import path

from kafkasse_wsgi import Options
from kafkasse_wsgi.contrib.django import KafkaSSEView, stream_view

OPTIONS = Options.from_any(settings.KAFKASSE)

urlpatterns = [
    path("stream/<str:topics>", KafkaSSEView.as_view(stream_options=OPTIONS)),
    path("fn/<str:topics>", stream_view, {"options": OPTIONS}),
]
