"""The wizard's pages: plain HTML forms that work without JavaScript, one step a page.

Each step validates in place (errors shown beside the fields, answers kept) and moves on
with POST-redirect-GET. Nothing is stored until the last step; then `complete_setup` does
what `pychat init` does, the claim code is destroyed, and the wizard can never run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..chat import accounts, registration, setup
from ..discovery.device_name import default_name
from ..errors import AppError, BadRequest
from ..privileged.claim_format import format_code
from ..ratelimit import address_key
from ..state.app_keys import (
    ANNOUNCER,
    CLAIM_ATTEMPTS,
    DEVICE_TLS,
    SERVICES,
    WIZARD_TEMPLATES,
    WIZARDS,
)
from ..tls.custom import CertificateRejected
from ..tls.trust import TRUST_STEPS, ca_file_name
from ..web.middleware import client_address, set_session_cookie
from . import claim
from .state import COOKIE, Wizards, WizardState

if TYPE_CHECKING:  # jinja2 and segno are imported when a wizard page is first shown
    import jinja2

STATIC = Path(__file__).resolve().parent / "static"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " script-src 'self'; connect-src 'self';"  # clock.js: the browser's time, nothing else
    " frame-ancestors 'none'; base-uri 'none'"
)
FIRST_INVITE_USES = 50
MAX_PEM_BYTES = 64 * 1024
FIRST_INVITE_DAYS = 7
NEW_CA_NEEDED = (
    "This device's certificate authority does not cover {name}.local. Tick the box to make"
    " a new one (every computer and phone must then trust the new one), or go back and keep"
    " the name it covers."
)

routes = web.RouteTableDef()
Errors = dict[str, str]
StepHandler = Callable[[web.Request, WizardState, Any], Awaitable[Errors]]


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    save: StepHandler


def _claim_copy(request: web.Request) -> Path | None:
    copy = request.app[SERVICES].settings.setup.claim_code_copy
    return Path(copy) if copy else None


async def _render(request: web.Request, template: str, **context: Any) -> web.Response:
    env = await request.app[WIZARD_TEMPLATES].get()
    html = env.get_template(template).render(steps=STEPS, **context)
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="Requests from other sites are not accepted.")


async def _state(request: web.Request) -> WizardState:
    """The wizard of this browser; anyone without one goes back to the claim code."""
    if await setup.is_setup_done(request.app[SERVICES]):
        raise web.HTTPFound("/")
    state = request.app[WIZARDS].of_browser(request.cookies)
    if state is None:
        raise web.HTTPSeeOther("/setup")
    return state


# -- claim -----------------------------------------------------------------------------------


@routes.get("/setup")
async def claim_page(request: web.Request) -> web.StreamResponse:
    if await setup.is_setup_done(request.app[SERVICES]):
        raise web.HTTPFound("/")
    state = request.app[WIZARDS].of_browser(request.cookies)
    if state is not None:
        raise web.HTTPSeeOther(_next_step_url(state))
    return await _render(request, "claim.html", errors={}, step=None)


async def _form(request: web.Request) -> Any:
    """The posted form; a malformed body (a multipart one without its boundary, cut short)
    is the client's mistake: 400, never a 500."""
    try:
        return await request.post()
    except (KeyError, ValueError, HttpProcessingError):
        raise BadRequest("The form's body is malformed.") from None


@routes.post("/setup")
async def claim_submit(request: web.Request) -> web.StreamResponse:
    _same_origin(request)
    svc = request.app[SERVICES]
    if await setup.is_setup_done(svc):
        raise web.HTTPFound("/")
    form = await _form(request)
    attempts = request.app[CLAIM_ATTEMPTS]
    address = address_key(client_address(request))
    now = svc.clock()
    wait = attempts.attempt(address, now)  # counted before the check: no parallel race
    if wait > 0:
        minutes = max(1, round(wait / 60))
        errors = {"code": f"Too many wrong codes. Try again in about {minutes} minutes."}
        return await _render(request, "claim.html", errors=errors, step=None)
    entered = str(form.get("code", ""))
    good = await asyncio.to_thread(claim.check_claim_code, svc.settings.data_dir, entered)
    if not good:
        errors = {"code": "That is not the claim code shown on the device. Check and retry."}
        return await _render(request, "claim.html", errors=errors, step=None)
    attempts.succeeded(address)
    state = request.app[WIZARDS].start(now)
    # The name it answers to now (its hostname, as pychat.txt set it, or `pychat-2` after a
    # clash) is the one to keep unless the admin types another.
    announcer = request.app.get(ANNOUNCER)
    state.device_name = (announcer.name if announcer else None) or default_name(
        svc.settings.discovery.name_before_setup
    )
    response = web.HTTPSeeOther(_next_step_url(state))
    response.set_cookie(
        COOKIE, state.token, httponly=True, samesite="Strict", secure=request.secure,
        path="/setup",
    )  # fmt: skip
    raise response


# -- steps -----------------------------------------------------------------------------------


async def save_organisation(request: web.Request, state: WizardState, form: Any) -> Errors:
    errors: Errors = {}
    org, admin = str(form.get("org", "")), str(form.get("admin", ""))
    password, confirm = str(form.get("password", "")), str(form.get("confirm", ""))
    state.org, state.admin = org.strip(), admin.strip().lower()
    for key, check in (("org", lambda: setup.clean_org_name(org)),
                       ("admin", lambda: accounts.normalise_username(admin)),
                       ("password", lambda: accounts.check_password(password))):  # fmt: skip
        try:
            check()
        except AppError as e:
            errors[key] = e.message
    if not errors and password != confirm:
        errors["confirm"] = "The two passwords differ."
    if not errors:
        svc = request.app[SERVICES]
        state.org = setup.clean_org_name(org)
        state.password_hash = await svc.passwords.hash(password, svc.settings.auth.scrypt_n)
    return errors


async def save_device(request: web.Request, state: WizardState, form: Any) -> Errors:
    raw = str(form.get("device_name", ""))
    state.device_name = raw.strip().lower()
    try:
        name = setup.clean_device_name(raw)
    except AppError as e:
        return {"device_name": e.message}
    announcer = request.app.get(ANNOUNCER)
    if announcer is not None and await announcer.name_in_use(name):
        return {"device_name": f"Another device already answers to {name}.local."}
    state.device_name = name
    return {}


async def save_security(request: web.Request, state: WizardState, form: Any) -> Errors:
    device_tls = request.app[DEVICE_TLS]
    choice = str(form.get("certificate", "local"))
    if choice == "custom":
        cert, key = form.get("cert"), form.get("key")
        if not isinstance(cert, web.FileField) or not isinstance(key, web.FileField):
            return {"certificate": "Choose both the certificate file and its key file."}
        cert_data, key_data = await asyncio.to_thread(
            lambda: (cert.file.read(MAX_PEM_BYTES), key.file.read(MAX_PEM_BYTES))
        )
        try:
            await device_tls.install_custom(cert_data, key_data, name=state.device_name)
        except CertificateRejected as e:
            return {"certificate": e.message}
        state.certificate = "custom"
    elif choice == "local":
        if not device_tls.covers_name(state.device_name):
            # A CA from before (narrower constraints): replacing it breaks every device that
            # trusts it, so only when the owner says so.
            if form.get("new_ca") != "yes":
                return {"new_ca": NEW_CA_NEEDED.format(name=state.device_name)}
            await device_tls.regenerate_ca(name=state.device_name)
        state.certificate = "local"
    else:
        return {"certificate": "Choose one of the two options."}
    return {}


async def save_access(request: web.Request, state: WizardState, form: Any) -> Errors:
    policy = str(form.get("registration", ""))
    if policy not in ("invite", "open", "closed"):
        return {"registration": "Choose who may join."}
    state.registration = policy
    return {}


STEPS = (
    Step("organisation", "Organisation and first admin", save_organisation),
    Step("device", "Device name", save_device),
    Step("security", "Security", save_security),
    Step("access", "Who may join", save_access),
)
BY_NAME = {step.name: step for step in STEPS}


def _next_step_url(state: WizardState) -> str:
    for step in STEPS:
        if step.name not in state.completed:
            return f"/setup/{step.name}"
    return "/setup/access"


async def _step_context(request: web.Request, step: Step, state: WizardState) -> dict[str, Any]:
    context: dict[str, Any] = {"state": state, "step": step}
    if step.name == "security":
        # The CA made at first boot covers every .local name, and people may trust it
        # already (/trust is offered from the start): the name just chosen keeps it.
        device_tls = request.app[DEVICE_TLS]
        await device_tls.check(name=state.device_name)
        context["ca_covers"] = device_tls.covers_name(state.device_name)
        context["fingerprint"] = device_tls.ca_fingerprint
        context["ca_file"] = ca_file_name(state.device_name)
        context["trust_steps"] = TRUST_STEPS
        # A phone that scans this does not trust the CA yet: send it to the plain page.
        context["trust_qr"] = _qr(f"http://{request.host}/trust")
    return context


@routes.get("/setup/{step:organisation|device|security|access}")
async def step_page(request: web.Request) -> web.StreamResponse:
    state = await _state(request)
    step = BY_NAME[request.match_info["step"]]
    if _next_step_url(state) != f"/setup/{step.name}" and step.name not in state.completed:
        raise web.HTTPSeeOther(_next_step_url(state))  # no skipping ahead
    return await _render(
        request, f"{step.name}.html", errors={}, **await _step_context(request, step, state)
    )


@routes.post("/setup/{step:organisation|device|security|access}")
async def step_submit(request: web.Request) -> web.StreamResponse:
    _same_origin(request)
    state = await _state(request)
    step = BY_NAME[request.match_info["step"]]
    form = await _form(request)
    errors = await step.save(request, state, form)
    if errors:
        context = await _step_context(request, step, state)
        return await _render(request, f"{step.name}.html", errors=errors, **context)
    state.completed.add(step.name)
    if step.name != STEPS[-1].name:
        raise web.HTTPSeeOther(_next_step_url(state))
    return await _finish(request, state)


async def _finish(request: web.Request, state: WizardState) -> web.StreamResponse:
    svc = request.app[SERVICES]
    choices = setup.SetupChoices(
        org=state.org,
        admin_username=state.admin,
        password_hash=state.password_hash,
        device_name=state.device_name,
        registration=state.registration,
    )
    user = await setup.complete_setup(svc, choices)
    await asyncio.to_thread(claim.destroy_claim_code, svc.settings.data_dir, _claim_copy(request))
    announcer = request.app.get(ANNOUNCER)
    if announcer is not None:
        # The first-boot name is still answered for a while (links made just before).
        await announcer.set_name(state.device_name)
    request.app[DEVICE_TLS].wake()  # the renewal task picks up the stored device name
    base = _app_base(request, state.device_name)
    state.app_url = f"{base}/"
    if state.registration == "invite":
        code = await registration.create_invite(
            svc, int(user["id"]), FIRST_INVITE_USES, FIRST_INVITE_DAYS * 86400
        )
        state.invite_url = f"{base}/register?invite={code}"
    token = await accounts.open_session(
        svc, int(user["id"]), client_address(request), request.headers.get("User-Agent", "")
    )
    response = web.HTTPSeeOther("/setup/done")
    set_session_cookie(request, response, token)
    raise response


def _app_base(request: web.Request, name: str) -> str:
    """Where people open the app from now on: `<name>.local` under the new name, not the
    Host of this request (the first-boot name is withdrawn a moment later). A development
    server reached by address (no mDNS) keeps that address."""
    by_name = request.app[SERVICES].settings.appliance_mode
    if not by_name and not (request.url.host or "").lower().endswith(".local"):
        return f"{request.scheme}://{request.host}"
    port = request.url.port
    default = 443 if request.scheme == "https" else 80
    shown = "" if port in (None, default) else f":{port}"
    return f"{request.scheme}://{name}.local{shown}"


@routes.get("/setup/done")
async def done_page(request: web.Request) -> web.StreamResponse:
    state = request.app[WIZARDS].of_browser(request.cookies)
    if state is None or not state.app_url:
        raise web.HTTPFound("/")
    return await _render(
        request,
        "done.html",
        errors={},
        step=None,
        state=state,
        app_qr=_qr(state.app_url),
        invite_uses=FIRST_INVITE_USES,
        invite_days=FIRST_INVITE_DAYS,
    )


def _qr(text: str) -> str:
    """A QR code as inline SVG markup (no script, no outside image)."""
    import segno

    return str(segno.make(text, error="m").svg_inline(scale=4, dark="#111", light="#fff"))


class Templates:
    """The wizard's templates, loaded once in a thread when a page is first shown: importing
    jinja2 and compiling them takes ~0.2 s that a new device need not spend before it
    listens, and a set-up one may never show the wizard again."""

    def __init__(self) -> None:
        self._loading: asyncio.Future[jinja2.Environment] | None = None

    async def get(self) -> jinja2.Environment:
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.to_thread(_load_templates))
        return await asyncio.shield(self._loading)  # a request that goes away stops no load


def _load_templates() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("appliance.setup_wizard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # loaded once: no stat of a template file on the loop per page
    )
    # Every template, the ones others extend or include too: none is read on the loop later.
    for name in env.list_templates():
        env.get_template(name)
    return env


async def wizard_ctx(app: web.Application) -> Any:
    """The claim code made and shown if not set up."""
    svc = app[SERVICES]
    if not await setup.is_setup_done(svc):
        copy = svc.settings.setup.claim_code_copy
        code = await asyncio.to_thread(
            claim.ensure_claim_code, svc.settings.data_dir, Path(copy) if copy else None
        )
        print(f"Claim code for the setup page: {format_code(code)}", flush=True)
    yield


def add_wizard(app: web.Application) -> None:
    app[WIZARDS] = wizards = Wizards()
    app[WIZARD_TEMPLATES] = Templates()
    app[SERVICES].clock_steps.listeners.append(wizards.shift_clock)
    app[CLAIM_ATTEMPTS] = claim.ClaimAttempts()
    app.add_routes(routes)
    app.router.add_static("/setup/static", STATIC, append_version=True)
    app.cleanup_ctx.append(wizard_ctx)
