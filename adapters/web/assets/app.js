// The hub's pages, for every role. Everything shown comes from the JSON API
// (so the same access policy and audit trail apply) and is written with
// textContent, never as HTML, so no value from a feed can run as script.
// Pages live in the URL's fragment (#/child/<id>), so reload and back work
// without a server route per page.
"use strict";

const $ = (id) => document.getElementById(id);
let me = null;

const R = {
  practitioner: "practitioner", shield: "shield-officer", steward: "data-steward",
  auditor: "auditor", admin: "administrator", cp: "child-protection",
};
const READERS = [R.practitioner, R.shield, R.steward, R.cp];

// Each page, who it is for (the same roles its API routes allow) and, in
// order, which one a role lands on after signing in.
const PAGES = [
  { hash: "#/search", label: "Find a child", roles: READERS },
  { hash: "#/reviews", label: "Review queue", roles: [R.steward] },
  { hash: "#/quarantine", label: "Quarantine", roles: [R.steward] },
  { hash: "#/quality", label: "Data quality", roles: [R.steward, R.admin] },
  { hash: "#/shields", label: "Shields", roles: [R.shield] },
  { hash: "#/audit", label: "Audit", roles: [R.auditor] },
  { hash: "#/register", label: "Register", roles: [R.admin] },
  { hash: "#/keys", label: "Agency keys", roles: [R.admin] },
  { hash: "#/parked", label: "Parked", roles: [R.admin, R.steward] },
];
const LANDING = [[R.practitioner, "#/search"], [R.cp, "#/search"], [R.steward, "#/reviews"],
  [R.shield, "#/shields"], [R.auditor, "#/audit"], [R.admin, "#/register"]];

const has = (...roles) => !!me && roles.some((r) => me.roles.includes(r));

// el builds an element; text is always set as text.
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null && text !== "") e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  return e;
}
const link = (text, href) => el("a", text, { href });
// Each page renders into its own container, so an answer that arrives
// after the person has moved on lands nowhere rather than on the next page.
let current = null;
const view = () => current;
function say(text) { $("message").textContent = text || ""; }
function fail(err) { say(err.message); }

async function api(method, url, body, raw) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (raw !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = raw;
  } else if (body) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(url, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    if (resp.status === 401 && !url.startsWith("/v1/auth/login")) signedOut();
    const e = new Error((data.error && data.error.message) || "the hub answered " + resp.status);
    e.status = resp.status;
    e.data = data;
    throw e;
  }
  say(""); // an answer clears the last error
  return data;
}

// ---- plain English ----

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
function longDate(s) {
  if (!s) return "";
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s);
  if (!m) return s;
  return Number(m[3]) + " " + MONTHS[Number(m[2]) - 1] + " " + m[1];
}
function dateTime(s) {
  if (!s) return "";
  const d = new Date(s);
  if (isNaN(d)) return s;
  return longDate(s) + " " + String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0") + " UTC";
}
// shortDateTime is for tables, where a long date would wrap: "1 Dec 2026, 10:33".
function shortDateTime(s) {
  const d = new Date(s || "");
  if (isNaN(d)) return s || "";
  return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()].slice(0, 3) + " " + d.getUTCFullYear() + ", " +
    String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
}
function sourceName(src) {
  if (!src) return "an unknown source";
  const sys = (src.system || "").toLowerCase();
  switch (src.agency) {
    case "health": return /pas|hospital|infirmary/.test(sys) ? "the hospital's record" : sys.includes("gp") ? "the GP practice's record" : "the health record";
    case "education": return "the school's record";
    case "social-care": return "children's social care's record";
    case "youth-justice": return "the youth justice service's record";
    case "hub": return src.system === "data-steward" ? "a data steward's correction" : "the hub";
    default: return (src.agency || "a source") + "'s record";
  }
}
const RULES = {
  "most-recent": "the most recently updated source is shown",
  "authoritative-then-most-recent": "the agency that keeps this fact is preferred",
  "all-sources": "every source's entries are listed",
  "steward-correction": "corrected by a data steward",
  "indicated-by-practitioner": "indicated by the practitioner",
};
function provenance(f) {
  if (!f || !f.source) return "";
  let s = "from " + sourceName(f.source);
  if (f.updated_at) s += ", updated " + longDate(f.updated_at);
  if (f.rule) s += " (" + (RULES[f.rule] || f.rule) + ")";
  return s;
}
const personName = (n) => (n ? [n.given, n.middle, n.family].filter(Boolean).join(" ") : "");
const address = (a) => [...(a.lines || []), a.town, a.postcode].filter(Boolean).join(", ");
function age(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s || "");
  if (!m) return "";
  const now = new Date();
  let y = now.getUTCFullYear() - Number(m[1]);
  if (now.getUTCMonth() + 1 < Number(m[2]) || (now.getUTCMonth() + 1 === Number(m[2]) && now.getUTCDate() < Number(m[3]))) y--;
  return y + (y === 1 ? " year" : " years");
}
// value renders any JSON value as short text, for tables of API answers.
function value(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(value).join("; ");
  if (typeof v === "object") return Object.entries(v).filter(([, x]) => x !== null && x !== "" && x !== undefined).map(([k, x]) => k + ": " + value(x)).join(", ");
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v)) return dateTime(v);
  return String(v);
}

// ---- building blocks ----

function page(title) {
  document.title = title + " — ContactPoint";
  const h = el("h1", title);
  view().replaceChildren(h);
  return h;
}
// section adds a titled part of a page; its id, from the title, lets a link
// or a test name it (#s-split-records-off), and labels it for screen readers.
function section(title, parent) {
  const id = "s-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const s = el("section", null, { id, "aria-labelledby": id + "-h" });
  s.append(el("h2", title, { id: id + "-h" }));
  (parent || view()).append(s);
  return s;
}
// table writes rows with columns [label, fn(row) → text or Node].
function table(rows, cols, caption) {
  if (!rows || rows.length === 0) return el("p", "None.", { class: "hint" });
  const wrap = el("div", null, { class: "scroll" });
  const t = el("table");
  if (caption) t.append(el("caption", caption));
  const head = el("tr");
  for (const [label] of cols) head.append(el("th", label, { scope: "col" }));
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const [, fn] of cols) {
      const v = fn(r);
      const td = el("td");
      if (v instanceof Node) td.append(v);
      else td.textContent = v === undefined || v === null ? "" : String(v);
      tr.append(td);
    }
    tbody.append(tr);
  }
  t.append(thead, tbody);
  wrap.append(t);
  return wrap;
}
let fieldSeq = 0;
// form builds a labelled form; fields: {name, label, type, options, required, value, hint}.
function form(fields, submit, onsubmit, extra) {
  const f = el("form");
  for (const d of fields) {
    if (d.type === "checkboxes") {
      const fs = el("fieldset");
      fs.append(el("legend", d.label));
      for (const o of d.options) {
        const l = el("label", null, { class: "check" });
        l.append(el("input", null, { type: "checkbox", name: d.name, value: o, checked: (d.value || []).includes(o) }), document.createTextNode(" " + o));
        fs.append(l);
      }
      f.append(fs);
      continue;
    }
    const l = el("label", d.label);
    let input;
    if (d.type === "select") {
      input = el("select", null, { name: d.name, required: d.required });
      for (const o of d.options) {
        const [v, t] = Array.isArray(o) ? o : [o, o];
        input.append(el("option", t || "(any)", { value: v, selected: String(d.value || "") === v }));
      }
    } else if (d.type === "textarea") {
      input = el("textarea", null, { name: d.name, rows: d.rows || 8, required: d.required });
      input.value = d.value || "";
    } else {
      input = el("input", null, { name: d.name, type: d.type || "text", required: d.required, inputmode: d.inputmode, min: d.min, max: d.max });
      if (d.value !== undefined) input.value = d.value;
    }
    if (d.hint) {
      const id = "hint-" + ++fieldSeq;
      input.setAttribute("aria-describedby", id);
      l.append(input, el("span", d.hint, { class: "hint", id }));
    } else l.append(input);
    if (d.wide) l.classList.add("wide");
    f.append(l);
  }
  const buttons = el("div", null, { class: "buttons" });
  buttons.append(el("button", submit, { type: "submit" }));
  for (const [label, fn] of extra || []) {
    buttons.append(el("button", label, { type: "button", class: "secondary", on: { click: () => fn(collect(f)) } }));
  }
  f.append(buttons);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    onsubmit(collect(f), f);
  });
  return f;
}
function collect(f) {
  const out = {};
  for (const [k, v] of new FormData(f)) {
    const s = String(v).trim();
    if (f.querySelector(`input[type=checkbox][name="${k}"]`)) (out[k] = out[k] || []).push(s);
    else if (s !== "") out[k] = s;
  }
  return out;
}
const qs = (o) => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")).toString();
function result(parent, text, cls) {
  let p = parent.querySelector(":scope > .result");
  if (!p) {
    p = el("div", null, { class: "result", role: "status" });
    parent.append(p);
  }
  p.replaceChildren();
  if (text instanceof Node) p.append(text);
  else p.textContent = text;
  if (cls) p.className = "result " + cls;
  return p;
}
function dl(pairs) {
  const d = el("dl");
  for (const [k, v, sub] of pairs) {
    if (v === undefined || v === null || v === "") continue;
    d.append(el("dt", k));
    const dd = el("dd", v);
    if (sub) dd.append(el("div", sub, { class: "src" }));
    d.append(dd);
  }
  return d;
}
// csvLink downloads an audit answer as CSV: a plain link, so the browser
// sends the session cookie and saves the file.
const csvLink = (url) => el("a", "Download as CSV", { href: url + (url.includes("?") ? "&" : "?") + "format=csv", download: "audit.csv" });

// ---- sign-in and navigation ----

function signedOut() {
  me = null;
  $("who").textContent = "";
  $("logout").hidden = true;
  $("nav").hidden = true;
  $("view").replaceChildren();
  current = null;
  $("signin").hidden = false;
  document.title = "Sign in — ContactPoint";
}

function signedIn(p, land) {
  me = p;
  me.roles = me.roles || [];
  $("who").textContent = p.name + (p.organisation ? ", " + p.organisation : "");
  $("logout").hidden = false;
  $("signin").hidden = true;
  const list = $("nav-list");
  list.replaceChildren();
  for (const pg of PAGES) if (has(...pg.roles)) {
    const li = el("li");
    li.append(link(pg.label, pg.hash));
    list.append(li);
  }
  $("nav").hidden = false;
  const home = landing();
  // Changing the fragment routes through hashchange; otherwise route now.
  if ((land || !location.hash || location.hash === "#") && location.hash !== home) location.hash = home;
  else route();
}
function landing() {
  for (const [role, hash] of LANDING) if (has(role)) return hash;
  return "#/none";
}

function route() {
  if (!me) return;
  say("");
  current = el("div");
  $("view").replaceChildren(current);
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const q = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of $("nav-list").querySelectorAll("a")) {
    if (location.hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const pages = {
    search: () => searchPage(q), child: () => recordPage(parts[1], q), manage: () => managePage(parts[1]),
    reviews: () => reviewsPage(q), review: () => reviewPage(parts[1]),
    quarantine: () => (parts[1] ? quarantineEntry(parts[1]) : quarantinePage(q)), quality: qualityPage,
    shields: shieldsPage, audit: () => auditPage(q), register: registerPage, practitioner: () => practitionerPage(parts[1]),
    keys: keysPage, parked: parkedPage,
  };
  const fn = pages[parts[0]];
  if (!fn) {
    page("Nothing here");
    view().append(el("p", "Your roles give you no page at this address."), link("Go to your start page", landing()));
    return;
  }
  Promise.resolve(fn()).catch(fail);
  $("page").focus({ preventScroll: true });
}

// ---- practitioner: search and record ----

const SEARCH_FIELDS = [
  ["family", "Family name"], ["given", "Given name"], ["birth_date", "Date of birth", "date"],
  ["age_from", "Age from", "number"], ["age_to", "Age to", "number"],
  ["birth_date_from", "Born from", "date"], ["birth_date_to", "Born to", "date"],
  ["gender", "Gender", "select", [["", "(any)"], ["female", "female"], ["male", "male"], ["other", "other"], ["unknown", "unknown"]]],
  ["postcode", "Postcode"], ["nhs_number", "NHS number"], ["upn", "UPN"],
];

function searchPage(q) {
  page("Find a child");
  view().append(el("p", "Give a name with a date of birth, an age range or a postcode; or an NHS number or UPN on its own.", { class: "hint", id: "search-hint" }));
  const fields = SEARCH_FIELDS.map(([name, label, type, options]) => ({ name, label, type, options, value: q.get(name) || "", min: type === "number" ? 0 : undefined, max: type === "number" ? 18 : undefined, inputmode: name === "nhs_number" ? "numeric" : undefined }));
  const f = form(fields, "Search", (v) => {
    const next = "#/search?" + qs(v);
    if (location.hash === next) runSearch(v);
    else location.hash = next;
  });
  f.id = "search-form";
  // Results get a heading that takes focus, so a keyboard user goes on from the answer.
  view().append(f, el("h2", "Results", { id: "results-heading", tabindex: "-1", hidden: true }), el("ol", null, { id: "results", "aria-labelledby": "results-heading" }));
  const v = Object.fromEntries(q);
  if (Object.keys(v).length) return runSearch(v);
}

async function runSearch(v) {
  const list = $("results");
  list.replaceChildren();
  const data = await api("GET", "/v1/children?" + qs(v));
  const rs = data.results || [];
  const head = $("results-heading");
  head.textContent = rs.length === 1 ? "1 child found" : rs.length + " children found";
  head.hidden = false;
  head.focus();
  if (rs.length === 0) list.append(el("li", "No child matches."));
  for (const r of rs) {
    const c = r.child;
    const li = el("li");
    li.append(link(c.name ? personName(c.name.value) : "Child " + c.id, "#/child/" + encodeURIComponent(c.id)));
    if (c.notice && c.notice.shielded || c.shield) li.append(el("span", "Shielded", { class: "badge" }));
    const bits = [];
    if (c.birth_date) bits.push("born " + longDate(c.birth_date.value));
    if (c.gender) bits.push(c.gender.value);
    if (c.address) bits.push(c.address.value.postcode);
    li.append(el("span", " " + bits.join(", ")));
    if (r.reasons && r.reasons.length) li.append(el("div", "Matched on " + r.reasons.join("; "), { class: "reason" }));
    list.append(li);
  }
}

function fact(pairs, label, f, render) {
  if (!f) return;
  pairs.push([label, render ? render(f.value) : f.value, provenance(f)]);
}

function renderRecord(v, parent) {
  const pairs = [];
  fact(pairs, "Date of birth", v.birth_date, (d) => longDate(d) + " (" + age(d) + ")");
  fact(pairs, "Gender", v.gender);
  // NHS numbers are read in groups of three, three and four.
  fact(pairs, "NHS number", v.nhs_number, (n) => String(n).replace(/^(\d{3})(\d{3})(\d{4})$/, "$1 $2 $3"));
  fact(pairs, "UPN", v.upn);
  fact(pairs, "Address", v.address, address);
  fact(pairs, "School", v.school, (s) => [s.name, s.phone].filter(Boolean).join(", "));
  fact(pairs, "GP practice", v.gp_practice, (g) => [g.name, g.phone].filter(Boolean).join(", "));
  fact(pairs, "Assessment (CAF)", v.caf, (c) => (c.exists ? "yes" : "no") + (c.completed_on ? ", completed " + longDate(c.completed_on) : ""));
  for (const c of v.contacts || []) {
    fact(pairs, "Parent or carer", c, (x) => [personName(x.name) + (x.relationship ? " (" + x.relationship + ")" : ""), x.phone, x.email].filter(Boolean).join(", "));
  }
  for (const n of v.previous_names || []) fact(pairs, "Also known as", n, personName);
  if (v.shield) pairs.push(["Shield", "Shielded: " + value({ reason: v.shield.reason_category, review: longDate(v.shield.review_date), contact: v.shield.contact })]);
  parent.append(dl(pairs));
  // Whom to contact: the notice's route first, then the practitioners involved.
  const s = section("Whom to contact", parent);
  if (v.notice) {
    const n = el("div", v.notice.message, { class: "notice" });
    if (v.notice.contact) n.append(el("div", "Contact: " + v.notice.contact));
    s.append(n);
  }
  const inv = (v.involvements || []).slice().sort((a, b) => (b.value.lead_professional ? 1 : 0) - (a.value.lead_professional ? 1 : 0));
  const list = el("ul", null, { class: "contacts" });
  for (const i of inv) {
    const x = i.value, p = x.practitioner || {};
    const li = el("li");
    li.append(el("strong", (x.lead_professional ? "Lead professional: " : "") + (p.name || x.organisation || x.service || "")));
    li.append(el("div", [x.service, p.role, x.organisation].filter(Boolean).join(", ")));
    const reach = [p.phone || x.phone, p.email].filter(Boolean).join(", ");
    if (reach) li.append(el("div", reach));
    li.append(el("div", provenance(i), { class: "src" }));
    list.append(li);
  }
  if (inv.length) s.append(list);
  else if (!v.notice) s.append(el("p", "No practitioner is recorded as working with this child yet."));
}

async function recordPage(id, q) {
  const asOf = q.get("as_of");
  page("Child's record");
  const data = await api("GET", "/v1/children/" + encodeURIComponent(id) + (asOf ? "?as_of=" + encodeURIComponent(asOf) : ""));
  const v = asOf ? data.child : data;
  const h = page(v.name ? personName(v.name.value) : "Child " + v.id);
  if (v.notice && v.notice.shielded) h.append(el("span", "Shielded", { class: "badge" }));
  if (asOf) view().append(el("p", "As the directory showed it on " + dateTime(data.as_of) + ".", { class: "notice" }));
  // An absorbed child's id leads to the survivor's record: say so, so that
  // no one takes the page for the child they asked for.
  if (!asOf && v.id && v.id !== String(id).toLowerCase()) {
    const n = el("p", "This child's record was merged into another; shown here is the record it was merged into: ", { class: "notice" });
    n.append(link(v.id, "#/child/" + encodeURIComponent(v.id)));
    view().append(n);
  }
  const back = el("p");
  back.append(el("button", "Back", { type: "button", class: "secondary", on: { click: () => history.back() } }));
  view().append(back);
  renderRecord(v, view());
  if (has(R.practitioner) && !asOf) involvementSection(v.id);
  if (has(R.steward, R.shield, R.auditor) || has(R.steward)) {
    const p = el("p");
    p.append(link("Timeline and steward's tools for this child", "#/manage/" + encodeURIComponent(v.id)));
    view().append(p);
  }
  if (has(R.shield)) shieldForms(view(), v.id);
  if (has(R.cp) && v.notice && v.notice.shielded && !asOf) revealSection(v.id);
}

// revealSection is break-glass for the child-protection role: a reason, the
// warning acknowledged, then the record in full for a short time. The API
// records it, tells the shield officers and raises a misuse signal.
function revealSection(id) {
  const s = section("Break-glass reveal");
  s.append(el("p", "Only to protect a child from harm now. The reveal is recorded, reported to the shield officers and investigated.", { class: "notice" }));
  const enc = encodeURIComponent(id);
  s.append(form([
    { name: "reason", label: "Why you must see this record now (10 to 500 characters)", type: "textarea", rows: 3, required: true, wide: true },
    { name: "acknowledge_warning", label: "I understand that this reveal is recorded and investigated", type: "checkboxes", options: ["yes"] },
  ], "Reveal the record", (b) => api("POST", "/v1/children/" + enc + "/reveal", { reason: b.reason || "", acknowledge_warning: (b.acknowledge_warning || []).includes("yes") })
    .then((d) => {
      const box = el("div", null, { class: "preview" });
      box.append(el("p", d.warning + " Shown until " + dateTime(d.until) + ".", { class: "notice" }));
      renderRecord(d.child, box);
      box.append(el("button", "Leave the record", { type: "button", on: { click: () => api("DELETE", "/v1/children/" + enc + "/reveal").then(() => result(s, "You have left the record.", "ok")).catch(fail) } }));
      result(s, box);
    }).catch(fail)));
}

function involvementSection(id) {
  const s = section("Indicate my involvement");
  s.append(el("p", "Add yourself to this child's record so that other practitioners can reach you; those already involved are told.", { class: "hint" }));
  s.append(form([
    { name: "service", label: "Service", required: true }, { name: "role", label: "Your role" },
    { name: "organisation", label: "Organisation", value: me.organisation || "" },
    { name: "phone", label: "Phone" }, { name: "email", label: "Email", type: "email" },
  ], "Indicate my involvement", (b) => api("POST", "/v1/children/" + encodeURIComponent(id) + "/involvement", b)
    .then(() => result(s, "Your involvement is recorded.", "ok")).catch(fail)));
}

// ---- shield officer ----

function shieldForms(parent, id) {
  const s = section("Apply a shield", parent);
  const idField = id ? [] : [{ name: "child", label: "Child id", required: true }];
  s.append(form([...idField,
    { name: "requested_by", label: "Requested by", required: true, hint: "a practitioner's id, or who the parent or carer is" },
    { name: "requested_by_kind", label: "Requested by (kind)", type: "select", options: ["practitioner", "parent-carer"], required: true },
    { name: "reason_category", label: "Reason category", type: "select", options: ["domestic-abuse", "risk-of-harm", "witness-protection", "adoption", "court-order", "other"], required: true },
    { name: "review_date", label: "Review date", type: "date", required: true },
    { name: "contact", label: "Whom others should contact", required: true, wide: true },
  ], "Apply shield", (b) => {
    const child = id || b.child;
    delete b.child;
    api("POST", "/v1/children/" + encodeURIComponent(child) + "/shield", b).then((d) => result(s, "Shield applied (" + d.event + ").", "ok")).catch(fail);
  }));
  const l = section("Lift a shield", parent);
  l.append(form([...idField, { name: "reason", label: "Reason", required: true, wide: true }], "Lift shield", (b) => {
    const child = id || b.child;
    api("POST", "/v1/children/" + encodeURIComponent(child) + "/shield/lift", { reason: b.reason })
      .then((d) => result(l, "Shield lifted (" + d.event + ").", "ok")).catch(fail);
  }));
}

async function shieldsPage() {
  page("Shields");
  const due = section("Shields due for review");
  due.append(form([{ name: "by", label: "Due by", type: "date" }], "Show", (b) => loadDue(due, b.by)));
  const rv = section("Break-glass reveals to look into");
  rv.append(form([{ name: "since", label: "Since", type: "date" }], "Show", (b) => loadReveals(rv, b.since)));
  shieldForms(view(), null);
  await Promise.all([loadDue(due), loadReveals(rv)]);
}
async function loadDue(s, by) {
  const d = await api("GET", "/v1/shields/due" + (by ? "?by=" + by : ""));
  const box = el("div");
  box.append(el("p", d.count + " due by " + longDate(d.by)));
  result(s, box);
  box.append(table(d.shields, [
    ["Child", (r) => link(r.child && r.child.name ? personName(r.child.name.value) : r.child_id, "#/child/" + r.child_id)],
    ["Review date", (r) => longDate(r.review_date)], ["Reason", (r) => r.shield.reason_category], ["Contact", (r) => r.shield.contact],
  ], "Shields due"));
}
async function loadReveals(s, since) {
  const d = await api("GET", "/v1/shields/reveals" + (since ? "?since=" + since : ""));
  const box = el("div");
  box.append(el("p", d.count + " since " + longDate(d.since)));
  result(s, box);
  box.append(table(d.reveals, [
    ["Child", (r) => link(r.child_id, "#/child/" + r.child_id)], ["Practitioner", (r) => r.practitioner_id],
    ["Revealed", (r) => dateTime(r.revealed_at)], ["Until", (r) => dateTime(r.until)], ["Reason given", (r) => r.reason],
  ], "Reveals"));
}

// ---- data steward ----

const REASONS = [["", "(any reason)"], ["score-band", "score band"], ["twin-guard", "twin guard"], ["identifier-conflict", "identifier conflict"], ["household-conflict", "household conflict"], ["correction-conflict", "correction conflict"]];

async function reviewsPage(q) {
  page("Review queue");
  view().append(form([
    { name: "reason", label: "Reason", type: "select", options: REASONS, value: q.get("reason") || "" },
    { name: "order", label: "Order", type: "select", options: [["oldest", "oldest first"], ["score", "highest score first"]], value: q.get("order") || "oldest" },
  ], "Filter", (b) => { location.hash = "#/reviews?" + qs(b); }));
  const d = await api("GET", "/v1/reviews?" + qs({ reason: q.get("reason") || "", order: q.get("order") || "", after: q.get("after") || "", limit: 50 }));
  view().append(table(d.tasks, [
    ["Task", (t) => link("Task " + t.id, "#/review/" + t.id)], ["Score", (t) => t.score.toFixed(2)], ["Reason", (t) => t.why || ""],
    ["Waiting since", (t) => longDate(t.requested_at)], ["Shielded", (t) => (t.shielded ? "Shielded" : "")],
    ["Correction", (t) => (t.correction ? t.correction.field + ": corrected " + value(t.correction.corrected) + "; the source states " + value(t.correction.stated) : "")],
  ], d.count + " task(s) on this page"));
  const nav = el("p");
  if (q.get("after")) nav.append(el("button", "Previous page", { type: "button", class: "secondary", on: { click: () => history.back() } }), " ");
  if (d.next) nav.append(link("Next page", "#/reviews?" + qs({ reason: q.get("reason") || "", order: q.get("order") || "", after: d.next })));
  view().append(nav);
  const ex = section("Links between records and children");
  ex.append(el("a", "Download every source record's child (CSV)", { href: "/v1/links/export", download: "links.csv" }));
  const rules = section("Linkage rules in force");
  api("GET", "/v1/linkage/rules").then((r) => rules.append(dl([["Version", r.version], ["Trained", r.trained_at ? dateTime(r.trained_at) : "not trained: the prior weights"],
    ["Thresholds", value(r.thresholds)], ["Weights", value(r.weights)]]))).catch((e) => rules.append(el("p", e.message)));
}

async function reviewPage(task) {
  page("Review task " + task);
  const t = await api("GET", "/v1/reviews/" + encodeURIComponent(task));
  if (t.id >= CONFLICT_TASKS) return conflictTask(t, task);
  view().append(dl([
    ["Score", t.score.toFixed(2)], ["Reason", t.why], ["Explanation", t.explanation], ["Status", t.status],
    ["Waiting since", longDate(t.requested_at)], ["Source record", t.source ? value(t.source) : ""],
    ["Compared with", t.compared_source ? value(t.compared_source) : ""], ["Shielded", t.shielded ? "Shielded: contact " + (t.contact || "the shield officers") : ""],
  ]));
  const links = el("p");
  links.append(link("This child's record", "#/child/" + t.child_id), " · ", link("Candidate's record", "#/child/" + t.candidate_id));
  view().append(links);
  const side = section("Side by side");
  side.append(table(t.fields || [], [
    ["Field", (f) => f.field], ["This child", (f) => f.child], ["Candidate", (f) => f.candidate],
    ["Agreement", (f) => f.level], ["Weight counted", (f) => f.counted + " of " + f.weight], ["Evidence", (f) => f.sentence],
  ], "Field-by-field evidence"));
  if (t.status === "open") {
    const dec = section("Decision");
    dec.append(form([{ name: "reason", label: "Reason", required: true, wide: true }], "Link (same child)", (b) => decide("link", b), [["Not the same child", (b) => decide("not-link", b)]]));
    const decide = (decision, b) => api("POST", "/v1/reviews/" + encodeURIComponent(task) + "/decision", { decision, reason: b.reason || "" })
      .then((d) => result(dec, decision === "link" ? "Linked: the children are merged into " + d.survivor + "." : "Recorded as different children.", "ok")).catch(fail);
  }
}

// Correction-conflict tasks are numbered from 2^52 (projections/directory).
const CONFLICT_TASKS = 2 ** 52;

// conflictTask: a source stated a value that differs from a steward's
// correction; keep the correction, or accept the source's value. A shielded
// child's task shows a steward without the shield role no values.
function conflictTask(t, task) {
  const c = t.correction;
  view().append(dl([
    ["Reason", "correction conflict"], ["Field", c && c.field], ["Corrected value", c && value(c.corrected)],
    ["Corrected", c && dateTime(c.corrected_at)], ["The source's value", c && value(c.stated)], ["Source", c && value(c.source)],
    ["Stated", c && dateTime(c.stated_at)], ["Shielded", t.shielded ? "Shielded: contact " + (t.contact || "the shield officers") : ""],
  ]));
  const links = el("p");
  links.append(link("This child's record", "#/child/" + t.child_id), " · ", link("Timeline and tools", "#/manage/" + t.child_id));
  view().append(links);
  const dec = section("Decision");
  const decide = (decision, b) => api("POST", "/v1/reviews/" + encodeURIComponent(task) + "/decision", { decision, reason: b.reason || "" })
    .then(() => result(dec, decision === "keep-correction" ? "Kept: the correction shows again." : "Accepted: the correction is withdrawn and the sources' value shows.", "ok")).catch(fail);
  dec.append(form([{ name: "reason", label: "Reason", required: true, wide: true }], "Keep the correction", (b) => decide("keep-correction", b),
    [["Accept the source's value", (b) => decide("accept-source", b)]]));
}

async function managePage(id) {
  page("Timeline and steward's tools");
  const enc = encodeURIComponent(id);
  const p = el("p");
  p.append(link("Open the record", "#/child/" + enc));
  view().append(p);
  const asOf = section("The record as of a date");
  asOf.append(form([{ name: "date", label: "Date", type: "date", required: true }, { name: "time", label: "Time (UTC)", type: "time" }], "Show the record then",
    (b) => { location.hash = "#/child/" + enc + "?as_of=" + encodeURIComponent(b.date + "T" + (b.time || "23:59") + ":59Z"); }));
  const tl = section("Timeline");
  const hist = api("GET", "/v1/children/" + enc + "/history").then((d) => {
    tl.append(table(d.events || d.history || [], [
      ["#", (e) => e.seq], ["When (UTC)", (e) => shortDateTime(e.event && e.event.at)], ["What", (e) => e.event && e.event.type],
      ["Child", (e) => (e.child_id !== id ? e.child_id : "")], ["Details", (e) => value(Object.fromEntries(Object.entries(e.event || {}).filter(([k]) => !["type", "at", "time"].includes(k))))],
    ], "Every event of this child, in log order"));
  }).catch((e) => tl.append(el("p", e.message)));
  if (!has(R.steward)) return hist;
  let sources = [];
  try {
    const v = await api("GET", "/v1/children/" + enc);
    sources = (v.sources || []).map((s) => s.source);
  } catch (e) { /* the record may be withheld; the forms still take ids */ }
  const srcKey = (s) => s.agency + "/" + s.system + "/" + s.record_id;
  const preview = (s, kind, body) => api("POST", "/v1/children/" + enc + "/" + kind + "?dry_run=true", body).then((d) => {
    const out = el("div");
    out.append(el("p", "Preview — nothing has been changed:"));
    for (const c of d.children || []) {
      const box = el("div", null, { class: "preview" });
      box.append(el("h3", c.name ? personName(c.name.value) : "Child " + (c.id || "")));
      renderRecord(c, box);
      out.append(box);
    }
    result(s, out);
  }).catch(fail);
  const m = section("Merge with another child");
  m.append(form([{ name: "other", label: "Other child's id", required: true }, { name: "reason", label: "Reason", required: true, wide: true }], "Merge",
    (b) => api("POST", "/v1/children/" + enc + "/merge", b).then((d) => result(m, "Merged; the survivor is " + d.survivor + ".", "ok")).catch(fail),
    [["Preview", (b) => preview(m, "merge", b)]]));
  const sp = section("Split records off");
  const splitBody = (b) => ({ sources: (b.sources || []).map((k) => { const [agency, system, ...rest] = k.split("/"); return { agency, system, record_id: rest.join("/") }; }), to: b.to || undefined, reason: b.reason || "" });
  sp.append(form([{ name: "sources", label: "Source records to move", type: "checkboxes", options: sources.map(srcKey) },
    { name: "to", label: "To child (empty: a new child)" }, { name: "reason", label: "Reason", required: true, wide: true }], "Split",
  (b) => api("POST", "/v1/children/" + enc + "/split", splitBody(b)).then((d) => result(sp, "Split; records moved to " + d.moved_to + ".", "ok")).catch(fail),
  [["Preview", (b) => preview(sp, "split", splitBody(b))]]));
  const um = section("Undo a merge");
  um.append(form([{ name: "absorbed", label: "Absorbed child's id", required: true }, { name: "reason", label: "Reason", required: true, wide: true }], "Unmerge",
    (b) => api("POST", "/v1/children/" + enc + "/unmerge", b).then((d) => result(um, "Restored " + d.restored + ".", "ok")).catch(fail),
    [["Preview", (b) => preview(um, "unmerge", b)]]));
  const co = section("Correct a value");
  co.append(form([
    { name: "field", label: "Field", type: "select", options: ["name", "birth_date", "gender", "address"], required: true },
    { name: "given", label: "Given name (name)" }, { name: "family", label: "Family name (name)" },
    { name: "birth_date", label: "Date of birth", type: "date" }, { name: "gender", label: "Gender", type: "select", options: ["", "female", "male", "other", "unknown"] },
    { name: "lines", label: "Address lines (address)", hint: "separate lines with commas" }, { name: "town", label: "Town (address)" }, { name: "postcode", label: "Postcode (address)" },
    { name: "reason", label: "Reason", required: true, wide: true },
  ], "Correct", (b) => {
    const v = { name: { given: b.given, family: b.family }, birth_date: b.birth_date, gender: b.gender,
      address: { lines: (b.lines || "").split(",").map((x) => x.trim()).filter(Boolean), town: b.town, postcode: b.postcode } }[b.field];
    api("POST", "/v1/children/" + enc + "/corrections", { field: b.field, value: v, reason: b.reason }).then(() => result(co, "Corrected.", "ok")).catch(fail);
  }));
  const wc = section("Withdraw a correction");
  wc.append(form([{ name: "field", label: "Field", type: "select", options: ["name", "birth_date", "gender", "address"] }, { name: "reason", label: "Reason", required: true, wide: true }], "Withdraw",
    (b) => api("DELETE", "/v1/children/" + enc + "/corrections/" + b.field, { reason: b.reason }).then(() => result(wc, "Correction withdrawn.", "ok")).catch(fail)));
  const rj = section("Reject a source's value");
  rj.append(form([{ name: "source", label: "Source record", type: "select", options: sources.map(srcKey), required: true },
    { name: "field", label: "Field", required: true }, { name: "withdraw", label: "Use it again (withdraw the rejection)", type: "select", options: [["", "no"], ["true", "yes"]] },
    { name: "reason", label: "Reason", required: true, wide: true }], "Reject",
  (b) => { const [agency, system, ...rest] = b.source.split("/"); api("POST", "/v1/children/" + enc + "/rejections", { source: { agency, system, record_id: rest.join("/") }, field: b.field, reason: b.reason, withdraw: b.withdraw === "true" }).then(() => result(rj, "Recorded.", "ok")).catch(fail); }));
  return hist;
}

async function quarantinePage(q) {
  page("Quarantine");
  view().append(form([{ name: "agency", label: "Agency", value: q.get("agency") || "" }, { name: "system", label: "System", value: q.get("system") || "" },
    { name: "resolved", label: "Include resolved", type: "select", options: [["", "no"], ["true", "yes"]], value: q.get("resolved") || "" }], "Filter",
  (b) => { location.hash = "#/quarantine?" + qs(b); }));
  const d = await api("GET", "/v1/quarantine?" + qs({ agency: q.get("agency") || "", system: q.get("system") || "", resolved: q.get("resolved") || "", after: q.get("after") || "" }));
  view().append(table(d.entries, [
    ["Entry", (e) => link("Entry " + e.seq, "#/quarantine/" + e.seq)], ["Received (UTC)", (e) => shortDateTime(e.time)], ["From", (e) => [e.agency, e.system].filter(Boolean).join("/")],
    ["Format", (e) => e.format], ["Why", (e) => (e.shielded ? "Shielded" : (e.reasons || []).map((r) => r.field + ": " + r.rule).join("; "))], ["Resolved", (e) => (e.resolved ? "yes" : "")],
  ], "Refused input"));
  if (d.next) {
    const p = el("p");
    p.append(link("Next page", "#/quarantine?" + qs({ agency: q.get("agency") || "", system: q.get("system") || "", resolved: q.get("resolved") || "", after: d.next })));
    view().append(p);
  }
}

async function quarantineEntry(seq) {
  page("Quarantine entry " + seq);
  const e = await api("GET", "/v1/quarantine/" + encodeURIComponent(seq));
  view().append(dl([["Received", dateTime(e.time)], ["From", [e.agency, e.system].filter(Boolean).join("/")], ["Record id", e.record_id], ["Format", e.format], ["Channel", e.channel],
    ["Shielded", e.shielded ? "Shielded: " + (e.message || "") : ""], ["Resolved", e.resolved ? value(e.resolved) : ""]]));
  view().append(table(e.reasons || [], [["Field", (r) => r.field], ["Rule", (r) => r.rule], ["Message", (r) => r.message]], "Why it was refused"));
  if (e.original !== undefined && !e.resolved) {
    const s = section("Fix and resubmit");
    s.append(form([{ name: "record", label: "Corrected record", type: "textarea", value: e.original, rows: 14, wide: true }], "Resubmit", (b) =>
      api("POST", "/v1/quarantine/" + encodeURIComponent(seq) + "/resubmit", null, b.record || "")
        .then((d) => result(s, "Resubmitted: " + value(d), "ok")).catch((err) => { fail(err); if (err.data && err.data.errors) result(s, value(err.data.errors)); })));
  }
}

// ---- auditor ----

function auditTable(d) {
  return table(d.entries, [["#", (e) => e.seq], ["When (UTC)", (e) => shortDateTime(e.at)], ["Who", (e) => e.actor_name || e.actor], ["Organisation", (e) => e.organisation],
    ["Action", (e) => e.action + (e.outcome && e.outcome !== "ok" ? " (" + e.outcome + ")" : "")], ["Reason", (e) => e.reason], ["Criteria", (e) => value(e.criteria)],
    ["Children", (e) => el("span", (e.children || []).join(" "), { class: "ids" })],
    ["Replay", (e) => (e.action === "view" && e.answer ? el("button", "Replay", { type: "button", class: "secondary", on: { click: () => { location.hash = "#/audit?replay=" + e.seq; } } }) : "")]],
  d.count + " entries");
}

async function auditPage(q) {
  page("Audit");
  const range = (q2) => [{ name: "from", label: "From", type: "date", value: q2.from || "" }, { name: "to", label: "To", type: "date", value: q2.to || "" }];
  const c = section("Who viewed this child");
  c.append(form([{ name: "child", label: "Child id", required: true, value: q.get("child") || "" }, ...range({})], "Show", (b) => { location.hash = "#/audit?" + qs(b); }));
  const p = section("What this practitioner viewed");
  p.append(form([{ name: "practitioner", label: "Practitioner id", required: true, value: q.get("practitioner") || "" }, ...range({})], "Show", (b) => { location.hash = "#/audit?" + qs(b); }));
  const r = section("Replay what was shown");
  r.append(form([{ name: "replay", label: "Audit entry number", type: "number", required: true, value: q.get("replay") || "" }], "Replay", (b) => { location.hash = "#/audit?" + qs(b); }));
  const s = section("Misuse signals");
  s.append(form(range({}), "Show", (b) => loadSignals(s, b)));
  const when = qs({ from: q.get("from") || "", to: q.get("to") || "" });
  const jobs = [loadSignals(s, {})];
  if (q.get("child")) {
    const url = "/v1/audit/children/" + encodeURIComponent(q.get("child")) + (when ? "?" + when : "");
    jobs.push(api("GET", url).then((d) => { const box = el("div"); box.append(csvLink(url), auditTable(d)); result(c, box); }));
  }
  if (q.get("practitioner")) {
    const url = "/v1/audit/practitioners/" + encodeURIComponent(q.get("practitioner")) + (when ? "?" + when : "");
    jobs.push(api("GET", url).then((d) => { const box = el("div"); box.append(csvLink(url), auditTable(d)); result(p, box); }));
  }
  if (q.get("replay")) {
    jobs.push(api("GET", "/v1/audit/views/" + encodeURIComponent(q.get("replay")) + "/replay").then((v) => {
      const box = el("div", null, { class: "preview" });
      box.append(el("h3", "Shown: " + (v.name ? personName(v.name.value) : "Child " + v.id)));
      renderRecord(v, box);
      result(r, box);
    }));
  }
  await Promise.all(jobs);
}
async function loadSignals(s, b) {
  const d = await api("GET", "/v1/audit/signals?" + qs(b));
  result(s, table(d.signals, [["Signal", (x) => x.kind], ["Who", (x) => link(x.actor_name || x.actor, "#/audit?practitioner=" + encodeURIComponent(x.actor))],
    ["Organisation", (x) => x.organisation], ["When", (x) => dateTime(x.window)], ["Count", (x) => x.count], ["Threshold", (x) => x.threshold]], "Signals"));
}

// ---- administrator ----

const ALL_ROLES = Object.values(R);
const PERSON_FIELDS = (p) => [
  { name: "name", label: "Name", value: p.name, required: !p.id }, { name: "organisation", label: "Organisation", value: p.organisation, required: !p.id },
  { name: "job_role", label: "Job role", value: p.job_role, required: !p.id }, { name: "email", label: "Email", type: "email", value: p.email },
  { name: "roles", label: "Roles", type: "checkboxes", options: ALL_ROLES, value: p.roles || [] },
  { name: "check_type", label: "Vetting check", value: p.vetting && p.vetting.check_type, hint: "e.g. enhanced-dbs" },
  { name: "vetted", label: "Vetted on", type: "date", value: p.vetting && p.vetting.date.slice(0, 10) },
  { name: "vetting_expires", label: "Vetting expires", type: "date", value: p.vetting && p.vetting.expires.slice(0, 10) },
  { name: "trained", label: "Trained on", type: "date", value: p.training && p.training.completed.slice(0, 10) },
  { name: "training_expires", label: "Training expires", type: "date", value: p.training && p.training.expires.slice(0, 10) },
  { name: "reason", label: "Reason", wide: true },
];
function personBody(b) {
  const out = { name: b.name, organisation: b.organisation, job_role: b.job_role, email: b.email, roles: b.roles || [], reason: b.reason };
  if (b.check_type && b.vetted && b.vetting_expires) out.vetting = { check_type: b.check_type, date: b.vetted, expires: b.vetting_expires };
  if (b.trained && b.training_expires) out.training = { completed: b.trained, expires: b.training_expires };
  return out;
}
// expiry warns of a vetting or training date passed or within 30 days.
function expiry(d) {
  if (!d) return "missing";
  const days = Math.floor((new Date(d) - new Date()) / 86400000);
  if (days < 0) return "EXPIRED " + longDate(d);
  if (days <= 30) return "expires soon: " + longDate(d);
  return longDate(d);
}
function showCredentials(s, c) {
  const box = el("div", null, { class: "notice" });
  box.append(el("p", "Give these to the practitioner now; they are not shown again."), dl([["Username", c.username], ["Password", c.password], ["Authenticator secret", c.totp_secret]]));
  result(s, box);
}

async function registerPage() {
  page("Register");
  const d = await api("GET", "/v1/practitioners");
  view().append(table(d.practitioners, [["Name", (p) => link(p.name || p.username, "#/practitioner/" + p.id)], ["Organisation", (p) => p.organisation],
    ["Roles", (p) => (p.roles || []).join(", ")], ["Status", (p) => p.status], ["Vetting", (p) => expiry(p.vetting && p.vetting.expires)],
    ["Training", (p) => expiry(p.training && p.training.expires)]], "Practitioners"));
  const add = section("Add a practitioner");
  add.append(form([{ name: "username", label: "Username", required: true }, ...PERSON_FIELDS({})], "Add", (b) =>
    api("POST", "/v1/practitioners", { username: b.username, ...personBody(b) }).then((r) => showCredentials(add, r.credentials)).catch(fail)));
}

async function practitionerPage(id) {
  page("Practitioner");
  const p = await api("GET", "/v1/practitioners/" + encodeURIComponent(id));
  page(p.name || p.username);
  view().append(dl([["Username", p.username], ["Status", p.status], ["Vetting", expiry(p.vetting && p.vetting.expires)], ["Training", expiry(p.training && p.training.expires)]]));
  const enc = encodeURIComponent(id);
  const st = section("Status");
  st.append(form([{ name: "reason", label: "Reason", wide: true }], "Suspend", (b) => status("suspended", b),
    [["Reinstate", (b) => status("active", b)], ["Has left", (b) => status("left", b)]]));
  const status = (s, b) => api("PATCH", "/v1/practitioners/" + enc, { status: s, reason: b.reason || "" }).then((x) => result(st, "Status is now " + x.status + ".", "ok")).catch(fail);
  const up = section("Update");
  up.append(form(PERSON_FIELDS(p), "Save", (b) => api("PATCH", "/v1/practitioners/" + enc, personBody(b)).then(() => result(up, "Saved.", "ok")).catch(fail)));
  const cr = section("New sign-in credentials");
  cr.append(form([], "Issue new password and code", () => api("POST", "/v1/practitioners/" + enc + "/credentials", {}).then((c) => showCredentials(cr, c)).catch(fail)));
}

async function keysPage() {
  page("Agency keys");
  const d = await api("GET", "/v1/agency-keys");
  view().append(table(d.keys, [["Agency", (k) => k.agency], ["System", (k) => k.system], ["Issued", (k) => dateTime(k.created_at)],
    ["Revoked", (k) => (k.revoked_at ? dateTime(k.revoked_at) : el("button", "Revoke", { type: "button", class: "secondary", "aria-label": "Revoke key of " + k.agency + "/" + k.system,
      on: { click: () => api("DELETE", "/v1/agency-keys/" + encodeURIComponent(k.id)).then(route).catch(fail) } }))]], "Keys"));
  const s = section("Issue a key");
  s.append(form([{ name: "agency", label: "Agency", type: "select", options: ["health", "education", "social-care", "youth-justice"], required: true },
    { name: "system", label: "System", required: true }], "Issue", (b) => api("POST", "/v1/agency-keys", b).then((k) => {
    const box = el("div", null, { class: "notice" });
    box.append(el("p", "Give this key to the agency's system now; it is not shown again."), el("code", k.key));
    result(s, box);
  }).catch(fail)));
}

async function parkedPage() {
  page("Parked");
  // Each list stands alone: one that cannot be read says so in its place.
  const jobs = [];
  if (has(R.admin)) {
    const n = section("Notices that could not be delivered");
    jobs.push(api("GET", "/v1/notifications/parked").then((d) => result(n, table(d.parked, [["Notice", (x) => x.id], ["Message", (x) => x.stream + " " + x.seq], ["Kind", (x) => x.kind], ["Why", (x) => x.reason], ["Attempts", (x) => x.attempts], ["Parked", (x) => dateTime(x.parked_at)],
      ["Retry", (x) => el("button", "Retry", { type: "button", class: "secondary", on: { click: () => api("POST", "/v1/notifications/parked/" + encodeURIComponent(x.id) + "/retry").then(() => result(n, "Retry queued.", "ok")).catch(fail) } })]], d.count + " parked")))
      .catch((e) => result(n, e.message)));
  }
  if (has(R.admin)) {
    const st = section("How far each consumer is behind");
    jobs.push(api("GET", "/v1/status").then((d) => result(st, table(d.consumers, [["Consumer", (x) => x.name], ["Stream", (x) => x.stream], ["Applied up to", (x) => x.checkpoint],
      ["Stream head", (x) => x.head], ["Behind", (x) => x.events_behind], ["Oldest waiting (s)", (x) => Math.round(x.seconds_behind)]], d.caught_up ? "All caught up" : "Catching up")))
      .catch((e) => result(st, e.message)));
  }
  const m = section("Messages that could not be applied");
  jobs.push(api("GET", "/v1/parked").then((d) => result(m, table(d.parked, [["Stream", (x) => x.stream], ["Sequence", (x) => x.seq], ["Consumer", (x) => x.consumer], ["Reason", (x) => x.reason], ["Detail", (x) => x.detail], ["When", (x) => dateTime(x.parked_at)]], d.count + " parked")))
    .catch((e) => result(m, e.message)));
  await Promise.all(jobs);
}

// ---- data quality ----

async function qualityPage() {
  page("Data quality");
  const d = await api("GET", "/v1/quality");
  view().append(el("p", "As of " + dateTime(d.generated_at) + ", over the last " + d.days + " days (UTC). Received counts every record the event log accepted, on the day it arrived: a record sent again with changes counts again, an identical resend within two hours does not. Quarantined counts every refused input, resubmitted or not.", { class: "hint" }));
  const chart = (title, name) => {
    const fig = el("figure");
    fig.append(el("img", null, { src: "/v1/quality/charts/" + name, alt: title + " (the figures are in the table below)" }), el("figcaption", title));
    return fig;
  };
  const s1 = section("Records received and quarantined per day");
  s1.append(chart("Records received and quarantined per day", "daily"), table(d.daily, [["Day", (x) => longDate(x.day)], ["Agency", (x) => x.agency], ["System", (x) => x.system], ["Received", (x) => x.received], ["Quarantined", (x) => x.quarantined]]));
  const s2 = section("Quarantined by reason");
  s2.append(chart("Quarantined by reason", "reasons"), table(d.quarantine_reasons, [["Agency", (x) => x.agency], ["System", (x) => x.system], ["Rule", (x) => x.rule], ["Entries", (x) => x.count]]));
  const s3 = section("Freshness");
  s3.append(table(d.freshness, [["Agency", (x) => x.agency], ["System", (x) => x.system], ["Records held", (x) => x.records], ["Received in all", (x) => x.received], ["Last record arrived", (x) => dateTime(x.last_record)], ["Time since", (x) => x.since]]));
  const s4 = section("Open review tasks by age and reason");
  s4.append(chart("Open review tasks by age", "reviews"), table(d.reviews, [["Reason", (x) => x.why], ["Age", (x) => x.age], ["Tasks", (x) => x.count]]));
  const s5 = section("Shields due for review");
  s5.append(table(d.shields_due, [["Due", (x) => x.period], ["Shields", (x) => x.count]]));
}

// ---- start ----

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    api("POST", "/v1/auth/login", { username: f.get("username"), password: f.get("password"), code: f.get("code") })
      .then((d) => { e.target.reset(); signedIn(d.practitioner, true); })
      .catch(fail);
  });
  $("logout").addEventListener("click", () => api("POST", "/v1/auth/logout").catch(() => {}).finally(() => { location.hash = ""; signedOut(); }));
  window.addEventListener("hashchange", route);
  api("GET", "/v1/auth/me").then((p) => signedIn(p, false)).catch(() => signedOut());
});
