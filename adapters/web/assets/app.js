// The practitioners' pages. Everything shown comes from the JSON API and is
// written with textContent, never as HTML, so no value from a feed can run
// as script.
"use strict";

const $ = (id) => document.getElementById(id);
let lastResults = [];

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function show(section) {
  for (const id of ["signin", "search", "record"]) $(id).hidden = id !== section;
  $("message").textContent = "";
}

async function api(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(url, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    if (resp.status === 401) signedOut();
    throw new Error((data.error && data.error.message) || "the hub answered " + resp.status);
  }
  return data;
}

function fail(err) { $("message").textContent = err.message; }

function signedOut() {
  $("who").textContent = "";
  $("logout").hidden = true;
  show("signin");
}

function signedIn(p) {
  $("who").textContent = p.name + (p.organisation ? ", " + p.organisation : "");
  $("logout").hidden = false;
  show("search");
}

const name = (n) => [n.given, n.middle, n.family].filter(Boolean).join(" ");
const address = (a) => [...(a.lines || []), a.town, a.postcode].filter(Boolean).join(", ");

function fact(dl, label, f, render) {
  if (!f) return;
  dl.append(el("dt", label));
  const dd = el("dd", render ? render(f.value) : f.value);
  if (f.source) {
    dd.append(el("div", "from " + f.source.agency + "/" + f.source.system +
      (f.updated_at ? ", updated " + f.updated_at.slice(0, 10) : "") + (f.rule ? " (" + f.rule + ")" : ""), "src"));
  }
  dl.append(dd);
}

function renderRecord(v) {
  const body = $("record-body");
  body.replaceChildren();
  body.append(el("h2", v.name ? name(v.name.value) : "Child " + v.id));
  if (v.notice) {
    const n = el("div", v.notice.message, "notice");
    if (v.notice.contact) n.append(el("div", "Contact: " + v.notice.contact));
    body.append(n);
  }
  const dl = el("dl");
  fact(dl, "Date of birth", v.birth_date);
  fact(dl, "Gender", v.gender);
  fact(dl, "NHS number", v.nhs_number);
  fact(dl, "UPN", v.upn);
  fact(dl, "Address", v.address, address);
  fact(dl, "School", v.school, (s) => s.name + (s.phone ? ", " + s.phone : ""));
  fact(dl, "GP practice", v.gp_practice, (g) => g.name + (g.phone ? ", " + g.phone : ""));
  fact(dl, "Assessment (CAF)", v.caf, (c) => (c.exists ? "yes" : "no") + (c.completed_on ? ", completed " + c.completed_on : ""));
  for (const c of v.contacts || []) {
    fact(dl, "Parent/carer", c, (x) => name(x.name) + " (" + x.relationship + ")" + (x.phone ? ", " + x.phone : "") + (x.email ? ", " + x.email : ""));
  }
  for (const i of v.involvements || []) {
    fact(dl, i.value.lead_professional ? "Lead professional" : "Working with the child", i, (x) => {
      const p = x.practitioner;
      return [x.service, x.organisation, p && p.name, p && p.role, (p && p.phone) || x.phone, p && p.email].filter(Boolean).join(", ");
    });
  }
  for (const n of v.previous_names || []) fact(dl, "Also known as", n, name);
  body.append(dl);
  show("record");
}

function renderResults(data) {
  const list = $("results");
  list.replaceChildren();
  lastResults = data.results || [];
  if (lastResults.length === 0) list.append(el("li", "No child matches."));
  for (const r of lastResults) {
    const c = r.child;
    const li = el("li");
    const a = el("a", c.name ? name(c.name.value) : c.id);
    a.href = "#" + c.id;
    a.addEventListener("click", (e) => {
      e.preventDefault();
      api("GET", "/v1/children/" + encodeURIComponent(c.id)).then(renderRecord).catch(fail);
    });
    li.append(a, el("span", " born " + (c.birth_date ? c.birth_date.value : "?") + (c.address ? ", " + c.address.value.postcode : "")));
    if (r.reasons) li.append(el("div", r.reasons.join("; "), "reason"));
    list.append(li);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    api("POST", "/v1/auth/login", { username: f.get("username"), password: f.get("password"), code: f.get("code") })
      .then((d) => { e.target.reset(); signedIn(d.practitioner); })
      .catch(fail);
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) if (String(v).trim()) q.set(k, String(v).trim());
    api("GET", "/v1/children?" + q.toString()).then(renderResults).catch(fail);
  });
  $("back").addEventListener("click", () => show("search"));
  $("logout").addEventListener("click", () => api("POST", "/v1/auth/logout").finally(signedOut));
  api("GET", "/v1/auth/me").then(signedIn).catch(() => signedOut());
});
