"""05 — Subscriber tokens: each signed-in user streams only their own topics, from a browser.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 EXAMPLE_JWT_SECRET=$(openssl rand -hex 32) \\
        PORT=8000 python examples/05_tokens_flask.py
    open http://127.0.0.1:8000/                        # sign in as alice or bob

``EventSource`` cannot send an ``Authorization`` header, so the login view puts a subscriber
token (a JWT naming the user's topics) in an HttpOnly cookie, which the browser sends with the
stream request; the stream is served by :func:`~kafkasse_wsgi.contrib.flask.make_blueprint`
with ``jwt_keys``, and refuses any topic outside the token's claim (404, as if it did not
exist). The page renews the cookie at half the token's lifetime; when the token a stream was
opened with expires, the server ends the stream with a ``retry:`` hint and the id to resume
from, and the browser reconnects by itself with the fresh cookie, missing nothing.

The streams can also be served from another origin: run a second copy with
``CORS_ORIGINS=http://127.0.0.1:8000`` on another port and open the page with
``?stream_base=http://127.0.0.1:8001/stream`` (the page then opens its EventSource with
``withCredentials``; the cookie goes along because both are on 127.0.0.1).

Users and their topics come from ``EXAMPLE_USERS`` (JSON ``{"user": ["topic", "glob-*"]}``;
default: alice reads ``alice-events``, bob ``bob-orders`` and any topic matching ``bob-*``).
At start the example creates the topics named there that do not exist yet (one partition)
and prints who streams what. The page opens the user's named topics; ``/?topics=bob-x``
opens others the token grants (a glob such as ``bob-*`` is a grant, not a topic to open).
A real application checks a password or an identity provider before minting a token.
"""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import html
import json
import os
import secrets

from flask import Flask, abort, redirect, request, session

from kafkasse_wsgi.contrib.flask import make_blueprint
from kafkasse_wsgi.tokens import DEFAULT_COOKIE_NAME, mint_token

KAFKA_CONFIG = {"bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")}
JWT_SECRET = os.environ.get("EXAMPLE_JWT_SECRET") or secrets.token_hex(32)
TOKEN_LIFETIME_S = float(os.environ.get("TOKEN_LIFETIME_S", "300"))
USERS: dict[str, list[str]] = json.loads(
    os.environ.get("EXAMPLE_USERS", '{"alice": ["alice-events"], "bob": ["bob-orders", "bob-*"]}')
)
CORS_ORIGINS = [o for o in os.environ.get("CORS_ORIGINS", "").split(",") if o] or None

app = Flask(__name__)
app.secret_key = os.environ.get("EXAMPLE_SESSION_SECRET") or secrets.token_hex(32)

# GET /stream/<topics>: a token is required; its claim decides which topics this user reads.
app.register_blueprint(
    make_blueprint(kafka_config=KAFKA_CONFIG, jwt_keys=JWT_SECRET, cors_origins=CORS_ORIGINS),
    url_prefix="/stream",
)


def _with_token_cookie(response, user: str):
    token = mint_token(JWT_SECRET, USERS[user], expires_in_s=TOKEN_LIFETIME_S, subject=user)
    response.set_cookie(
        DEFAULT_COOKIE_NAME,
        token,
        max_age=int(TOKEN_LIFETIME_S),
        httponly=True,  # page scripts never see it
        samesite="Lax",  # sent to this site only, including its other ports
        secure=request.is_secure,
    )
    return response


@app.post("/login")
def login():
    user = request.form.get("user", "")
    if user not in USERS:
        abort(403)
    session["user"] = user
    return _with_token_cookie(redirect("/", code=303), user)


@app.post("/token")
def renew_token():
    """A fresh cookie for the signed-in user; the page calls it at half the token's life."""
    user = session.get("user")
    if user not in USERS:
        abort(401)
    return _with_token_cookie(app.response_class(status=204), user)


@app.get("/")
def page():
    user = session.get("user")
    if user not in USERS:
        return LOGIN_PAGE
    topics = request.args.get("topics") or ",".join(named_topics(USERS[user]))
    if not topics:
        granted = html.escape(", ".join(USERS[user]))
        return f"<p>Your token grants {granted}: open <code>/?topics=</code> a topic it matches."
    config = {"user": user, "topics": topics, "renewEveryMs": int(TOKEN_LIFETIME_S * 500)}
    # "</" inside a script would end it: JSON's \u003c keeps a topic name from doing so.
    return STREAM_PAGE.replace("__CONFIG__", json.dumps(config).replace("<", "\\u003c"))


def named_topics(grants: list[str]) -> list[str]:
    """The topics a claim names outright: its globs are grants, not topics to open."""
    return [t for t in grants if "*" not in t and "?" not in t]


def create_missing_topics() -> None:
    """Create the users' named topics that do not exist yet, so every page has a stream."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**KAFKA_CONFIG, client_id="kafkasse-example-admin")
    try:
        for topic in sorted({t for grants in USERS.values() for t in named_topics(grants)}):
            try:
                admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
                print(f"created topic {topic}", flush=True)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


LOGIN_PAGE = """<!doctype html><title>Sign in</title>
<form method="post" action="/login"><label>User <input name="user" value="alice"></label>
<button>Sign in</button></form>"""

STREAM_PAGE = """<!doctype html><title>My events</title>
<h1>Events of <span id="user"></span></h1>
<p>opens <span id="opens">0</span>, events <span id="received">0</span>,
gaps <span id="gaps">0</span>, duplicates <span id="duplicates">0</span></p>
<ol id="events"></ol>
<script>
const config = __CONFIG__;
const base = new URLSearchParams(location.search).get("stream_base") || "/stream";
const state = window.tokensDemo = {
  opens: 0, received: 0, gaps: 0, duplicates: 0, closed: 0, renewals: 0,
  lastOffset: {}, lastEventId: null,
};
document.getElementById("user").textContent = config.user;
const show = () => ["opens", "received", "gaps", "duplicates"].forEach(
  (k) => document.getElementById(k).textContent = state[k]);
// Renew the cookie well before the token expires: a stream ended at expiry reconnects with it.
setInterval(async () => {
  const answer = await fetch("/token", {method: "POST", credentials: "same-origin"});
  if (answer.ok) state.renewals++;
}, config.renewEveryMs);
const source = new EventSource(`${base}/${config.topics}`, {withCredentials: base !== "/stream"});
source.onopen = () => { state.opens++; show(); };
source.onerror = () => { if (source.readyState === EventSource.CLOSED) state.closed++; };
source.onmessage = (event) => {
  const k = JSON.parse(event.data)._kafka;
  const key = `${k.topic}/${k.partition}`;
  const last = state.lastOffset[key];
  if (last !== undefined && k.offset <= last) state.duplicates++;
  else if (last !== undefined && k.offset > last + 1) state.gaps++;
  state.lastOffset[key] = Math.max(last ?? -1, k.offset);
  state.lastEventId = event.lastEventId;
  state.received++;
  const item = document.createElement("li");
  item.textContent = `${key}@${k.offset} ${event.data}`;
  document.getElementById("events").prepend(item);
  show();
};
</script>"""


if __name__ == "__main__":
    from gevent.pywsgi import WSGIServer

    from kafkasse_wsgi.log import configure_json_logging

    configure_json_logging("INFO")
    create_missing_topics()
    for name, grants in USERS.items():
        print(f"{name} streams {', '.join(grants)}", flush=True)
    port = int(os.environ.get("PORT", "8000"))
    print(f"Sign in on http://127.0.0.1:{port}/", flush=True)
    WSGIServer(("127.0.0.1", port), app).serve_forever()
