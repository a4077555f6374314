/* The inbox and run pages of workflows.server: plain JavaScript, no framework, no build.
 *
 * Every API call goes through api(): it adds the bearer token (asked for on a 401 and
 * kept in sessionStorage) and turns the contract's {"error": {...}} bodies into ApiError.
 * Text from the server is only ever set with textContent, never parsed as HTML.
 */
(() => {
  "use strict";

  // The app root: this script lives at <root>/static/app.js.
  const BASE = new URL("..", document.currentScript.src);
  const TOKEN_KEY = "workflows.token";
  const USER_KEY = "workflows.user";
  const TERMINAL = new Set(["completed", "failed", "cancelled", "timed_out"]);

  // ---------------------------------------------------------------------------- helpers
  function apiUrl(path, query) {
    const u = new URL(path.replace(/^\/+/, ""), BASE);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, String(v));
    }
    return u;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k in node && typeof v !== "string") node[k] = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let uidCounter = 0;
  const uid = (prefix) => `${prefix}-${++uidCounter}`;

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // crypto.randomUUID needs a secure context; getRandomValues does not.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function display(value) {
    if (typeof value === "string") return value;
    if (value === undefined) return "";
    return JSON.stringify(value, null, 2);
  }

  function humanize(name) {
    const s = String(name).replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim();
    return s ? s[0].toUpperCase() + s.slice(1) : String(name);
  }

  function relativeTime(seconds) {
    const diff = Date.now() / 1000 - seconds;
    const ahead = diff < 0;
    const d = Math.abs(diff);
    let text;
    if (d < 45) return ahead ? "in a few seconds" : "just now";
    if (d < 3600) text = `${Math.round(d / 60)} min`;
    else if (d < 86400) text = `${Math.round(d / 3600)} h`;
    else return new Date(seconds * 1000).toLocaleString();
    return ahead ? `in ${text}` : `${text} ago`;
  }

  function timeEl(seconds) {
    if (typeof seconds !== "number") return el("span", { text: "–" });
    const date = new Date(seconds * 1000);
    const t = el("time", {
      datetime: date.toISOString(),
      title: date.toLocaleString(),
      text: relativeTime(seconds),
    });
    t.dataset.ts = String(seconds);
    return t;
  }

  /* "850 ms", "4.2 s", "3 min 5 s", "2 h 10 min", "3 d 4 h": how long between two events. */
  function formatDuration(seconds) {
    if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
    const s = Math.max(0, seconds);
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 10) return `${s.toFixed(1)} s`;
    if (s < 60) return `${Math.round(s)} s`;
    const parts = (big, bigUnit, small, smallUnit) => (small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`);
    if (s < 3600) return parts(Math.floor(s / 60), "min", Math.round(s % 60), "s");
    if (s < 86400) return parts(Math.floor(s / 3600), "h", Math.round((s % 3600) / 60), "min");
    return parts(Math.floor(s / 86400), "d", Math.round((s % 86400) / 3600), "h");
  }

  /* A timestamp written out in full (for the record), the relative time as its tooltip. */
  function absoluteTimeEl(seconds) {
    if (typeof seconds !== "number") return el("span", { text: "–" });
    const date = new Date(seconds * 1000);
    return el("time", {
      datetime: date.toISOString(),
      title: relativeTime(seconds),
      text: date.toLocaleString(undefined, {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }),
    });
  }

  setInterval(() => {
    for (const t of document.querySelectorAll("time[data-ts]")) {
      t.textContent = relativeTime(Number(t.dataset.ts));
    }
  }, 30000);

  // Polite announcements for screen readers (the page's aria-live region).
  const announcer = document.getElementById("announcer");
  function announce(message) {
    if (!announcer) return;
    announcer.textContent = "";
    requestAnimationFrame(() => {
      announcer.textContent = message;
    });
  }

  const liveState = document.getElementById("live-state");
  function setLive(state, text) {
    if (!liveState) return;
    liveState.dataset.state = state;
    liveState.textContent =
      text || { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" }[state] || state;
  }

  /* The page's error banner; each source (the list, the run, a stream) sets or clears
   * its own message, so one success does not hide another's failure. */
  const loadError = document.getElementById("load-error");
  const loadErrors = new Map();
  function showLoadError(source, message) {
    if (message) loadErrors.set(source, message);
    else loadErrors.delete(source);
    if (!loadError) return;
    const text = Array.from(loadErrors.values()).join(" ");
    if (loadError.textContent !== text) loadError.textContent = text;
    loadError.hidden = !text;
  }

  // ---------------------------------------------------------------------------- auth + api
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const auth = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    needed: false,
    listeners: [],
    waiters: [],
    section: document.getElementById("auth"),
    form: document.getElementById("auth-form"),
    input: document.getElementById("auth-token"),
    error: document.getElementById("auth-error"),

    require() {
      const wasShown = this.needed;
      this.needed = true;
      if (!this.section) return;
      this.error.textContent = this.token ? "That token was not accepted. Enter it again." : "";
      this.section.hidden = false;
      setLive("offline", "Sign-in needed");
      if (!wasShown) this.input.focus();
    },
    headers() {
      return this.token ? { Authorization: `Bearer ${this.token}` } : {};
    },
    onToken(fn) {
      this.listeners.push(fn);
    },
    waitForToken() {
      return new Promise((resolve) => this.waiters.push(resolve));
    },
    init() {
      if (!this.form) return;
      this.form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const value = this.input.value.trim();
        if (!value) return;
        this.token = value;
        sessionStorage.setItem(TOKEN_KEY, value);
        this.needed = false;
        this.input.value = "";
        this.section.hidden = true;
        announce("Token saved for this tab.");
        document.getElementById("page-title")?.focus();
        for (const fn of this.listeners) fn();
        for (const resolve of this.waiters.splice(0)) resolve();
      });
    },
  };
  auth.init();

  /* Who the person is. On a server with users (a users file, or a proxy naming the
   * caller) GET /me says so from the token: "Signed in as ada". On a server with one
   * shared token (or none) everyone may do everything, and who acts is the "Answering
   * as" field, remembered in localStorage and sent as the X-Workflows-User header
   * (UTF-8 bytes: header values are byte strings) with every call: the server records
   * it with answers and claims, and takes it as "me" for "My tasks". */
  const ANONYMOUS = "anonymous";
  const identity = {
    input: document.getElementById("answering-as"),
    field: document.querySelector(".answering-as"),
    whoami: document.getElementById("whoami"),
    me: null, // GET /me: {user, groups, admin}; null until known (or an older server)
    verified: false, // the server knows the caller from the token, not from the field
    listeners: [],
    stored() {
      try {
        return localStorage.getItem(USER_KEY) || "";
      } catch {
        return "";
      }
    },
    name() {
      if (this.verified) return this.me.user;
      return (this.input ? this.input.value : this.stored()).trim();
    },
    /* The user "My tasks" and the Claim/Unclaim buttons are about. */
    user() {
      return this.name() || ANONYMOUS;
    },
    groups() {
      return this.me && Array.isArray(this.me.groups) ? this.me.groups : [];
    },
    admin() {
      return this.me ? Boolean(this.me.admin) : true;
    },
    headers() {
      if (this.verified) return {}; // the token says who; another name would be refused
      const name = this.name();
      if (!name) return {};
      return { "X-Workflows-User": String.fromCharCode(...new TextEncoder().encode(name)) };
    },
    onChange(fn) {
      this.listeners.push(fn);
    },
    changed() {
      for (const fn of this.listeners) fn();
    },
    /* Ask the server who we are (asked without the field's name: a server without
     * users answers "anonymous", an admin, and the field names the person). */
    async load() {
      try {
        const me = await api("me", { asUser: false });
        this.me = me && typeof me.user === "string" ? me : null;
      } catch (e) {
        if (e.status === 401) return false;
        this.me = null; // a server without GET /me: the field names the person
      }
      this.verified = Boolean(this.me) && this.me.verified === true;
      if (this.field) this.field.hidden = this.verified;
      if (this.whoami) {
        this.whoami.hidden = !this.verified;
        if (this.verified) {
          const groups = this.groups();
          this.whoami.replaceChildren(
            "Signed in as ",
            el("strong", { class: "who", text: this.me.user }),
            groups.length ? ` · ${groups.join(", ")}` : "",
            this.me.admin ? " · admin" : "",
          );
        }
      }
      document.body.dataset.user = this.verified ? this.me.user : "";
      this.changed();
      return true;
    },
    init() {
      if (!this.input) return;
      this.input.value = this.stored();
      let timer = null;
      this.input.addEventListener("input", () => {
        try {
          localStorage.setItem(USER_KEY, this.input.value.trim());
        } catch {
          /* storage off: the name still goes with this page's calls */
        }
        clearTimeout(timer);
        timer = setTimeout(() => this.changed(), 300);
      });
    },
  };
  identity.init();

  async function api(path, { method = "GET", body, headers = {}, query, asUser = true } = {}) {
    const sentToken = auth.token;
    const h = { Accept: "application/json", ...auth.headers(), ...(asUser ? identity.headers() : {}), ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(apiUrl(path, query), {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "network", "Could not reach the server. Check the connection and try again.");
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      let message = err.message || `The server answered ${res.status} ${res.statusText}.`;
      // pydantic's messages end with a link to its docs: noise for the person answering.
      message = message.replace(/\n?\s*For further information visit \S+/g, "").trim();
      // A 401 to a call sent before the person entered a token says nothing of it.
      if (res.status === 401 && auth.token === sentToken) auth.require();
      throw new ApiError(res.status, err.code || `http_${res.status}`, message);
    }
    return data;
  }

  // ---------------------------------------------------------------------------- schema forms
  class FieldError extends Error {
    constructor(input, message) {
      super(message);
      this.input = input;
    }
  }

  const OMIT = Symbol("omit");
  const MAX_DEPTH = 8;

  function pointer(root, ref) {
    if (typeof ref !== "string" || !ref.startsWith("#")) return {};
    let node = root;
    for (const raw of ref.slice(1).split("/").filter(Boolean)) {
      const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (node === null || typeof node !== "object" || !(key in node)) return {};
      node = node[key];
    }
    return node && typeof node === "object" ? node : {};
  }

  /* Follows $ref, single-entry allOf and "X or null" unions to the schema that decides
   * the widget; keywords written beside a $ref (title, description, default) win. */
  function resolve(schema, root) {
    let s = schema && typeof schema === "object" ? schema : {};
    let nullable = false;
    for (let i = 0; i < 32; i++) {
      if (s.$ref) {
        const { $ref, ...rest } = s;
        s = { ...pointer(root, $ref), ...rest };
        continue;
      }
      if (Array.isArray(s.allOf) && s.allOf.length === 1) {
        const { allOf, ...rest } = s;
        s = { ...allOf[0], ...rest };
        continue;
      }
      const alts = s.anyOf || s.oneOf;
      if (Array.isArray(alts)) {
        const kept = alts.filter((a) => !(a && a.type === "null"));
        if (kept.length < alts.length) nullable = true;
        if (kept.length === 1) {
          const { anyOf, oneOf, ...rest } = s;
          s = { ...kept[0], ...rest };
          continue;
        }
      }
      if (Array.isArray(s.type)) {
        const types = s.type.filter((t) => t !== "null");
        if (types.length < s.type.length) nullable = true;
        if (types.length === 1) {
          s = { ...s, type: types[0] };
          continue;
        }
      }
      if (Array.isArray(s.enum) && s.enum.includes(null)) {
        nullable = true;
        s = { ...s, enum: s.enum.filter((v) => v !== null) };
      }
      break;
    }
    return { schema: s, nullable };
  }

  function labelFor(id, text, required) {
    return el(
      "label",
      { for: id },
      text,
      required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null,
    );
  }

  function hintFor(schema) {
    if (!schema.description) return null;
    return el("p", { class: "hint", id: uid("hint"), text: schema.description });
  }

  function describe(input, ...hints) {
    const ids = hints.filter(Boolean).map((h) => h.id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  }

  const STRING_INPUT_TYPES = {
    email: "email",
    uri: "url",
    url: "url",
    date: "date",
    "date-time": "datetime-local",
    time: "time",
    password: "password",
  };

  /* Builds the widget for one property. Returns {node, read, required}; read() gives the
   * JSON value, OMIT for "leave it out", or throws FieldError. */
  function buildField(name, rawSchema, root, required, depth) {
    const { schema, nullable } = resolve(rawSchema, root);
    const title = schema.title || humanize(name);
    const id = uid("f");
    const hint = hintFor(schema);
    const hasDefault = Object.prototype.hasOwnProperty.call(schema, "default");

    if (Object.prototype.hasOwnProperty.call(schema, "const")) {
      const input = el("input", { id, name, type: "text", readonly: true, value: display(schema.const) });
      describe(input, hint);
      return {
        node: el("div", { class: "field" }, labelFor(id, title, false), hint, input),
        read: () => schema.const,
      };
    }

    if (Array.isArray(schema.enum) && schema.enum.length) {
      const select = el("select", { id, name, required: required && !hasDefault });
      const values = new Map();
      if (!required || !hasDefault) {
        select.append(el("option", { value: "", text: required ? "Choose…" : "—" }));
      }
      schema.enum.forEach((v, i) => {
        const key = `v${i}`;
        values.set(key, v);
        const option = el("option", { value: key, text: display(v) });
        if (hasDefault && JSON.stringify(v) === JSON.stringify(schema.default)) option.selected = true;
        select.append(option);
      });
      describe(select, hint);
      return {
        node: el("div", { class: "field" }, labelFor(id, title, required), hint, select),
        read: () => (select.value === "" ? (nullable && required ? null : OMIT) : values.get(select.value)),
      };
    }

    const type = schema.type;
    if (type === "boolean" && nullable) {
      // "yes", "no" or "not given": a checkbox cannot say the third.
      const select = el("select", { id, name });
      const choices = [["", "—"], ["true", "Yes"], ["false", "No"]];
      for (const [value, text] of choices) {
        const option = el("option", { value, text });
        if (hasDefault && String(schema.default) === value) option.selected = true;
        select.append(option);
      }
      describe(select, hint);
      return {
        node: el("div", { class: "field" }, labelFor(id, title, false), hint, select),
        read: () => (select.value === "" ? (hasDefault ? OMIT : null) : select.value === "true"),
      };
    }

    if (type === "boolean") {
      const input = el("input", { id, name, type: "checkbox", checked: schema.default === true });
      describe(input, hint);
      return {
        node: el("div", { class: "field check" }, input, labelFor(id, title, false), hint),
        read: () => input.checked,
      };
    }

    if (type === "integer" || type === "number") {
      const input = el("input", {
        id,
        name,
        type: "number",
        inputmode: type === "integer" ? "numeric" : "decimal",
        step: type === "integer" ? "1" : "any",
        required,
      });
      if (typeof schema.minimum === "number") input.min = String(schema.minimum);
      if (typeof schema.maximum === "number") input.max = String(schema.maximum);
      if (typeof schema.default === "number") input.value = String(schema.default);
      describe(input, hint);
      return {
        node: el("div", { class: "field" }, labelFor(id, title, required), hint, input),
        read: () => {
          const raw = input.value.trim();
          if (raw === "") return nullable && required ? null : OMIT;
          const n = Number(raw);
          if (!Number.isFinite(n)) throw new FieldError(input, "Enter a number.");
          if (type === "integer" && !Number.isInteger(n)) throw new FieldError(input, "Enter a whole number.");
          if (typeof schema.exclusiveMinimum === "number" && !(n > schema.exclusiveMinimum)) {
            throw new FieldError(input, `Enter a number greater than ${schema.exclusiveMinimum}.`);
          }
          if (typeof schema.exclusiveMaximum === "number" && !(n < schema.exclusiveMaximum)) {
            throw new FieldError(input, `Enter a number less than ${schema.exclusiveMaximum}.`);
          }
          return n;
        },
      };
    }

    if (type === "string") {
      const long = (schema.maxLength || 0) > 200 || schema.format === "textarea" || schema.format === "multiline";
      const input = long
        ? el("textarea", { id, name, rows: "4", required })
        : el("input", { id, name, type: STRING_INPUT_TYPES[schema.format] || "text", required });
      if (typeof schema.minLength === "number") input.minLength = schema.minLength;
      if (typeof schema.maxLength === "number") input.maxLength = schema.maxLength;
      if (typeof schema.default === "string") input.value = schema.default;
      if (input.type === "text") input.autocomplete = "off";
      describe(input, hint);
      return {
        node: el("div", { class: "field" }, labelFor(id, title, required), hint, input),
        read: () => {
          const v = input.value;
          if (v === "" && !required) return hasDefault ? OMIT : nullable ? null : OMIT;
          return v;
        },
      };
    }

    if (type === "object" && schema.properties && depth < MAX_DEPTH) {
      const legendText = schema.title || humanize(name);
      const fieldset = el("fieldset", { class: "group-fields" }, el("legend", { text: legendText }));
      if (hint) fieldset.append(hint);
      const reader = buildProperties(fieldset, schema, root, depth + 1);
      return {
        node: fieldset,
        read: () => {
          const value = reader();
          if (!required && Object.keys(value).length === 0) return OMIT;
          return value;
        },
      };
    }

    if (type === "array") {
      const items = resolve(schema.items || {}, root).schema;
      if (Array.isArray(items.enum) && items.enum.length) {
        const fieldset = el("fieldset", { class: "group-fields choices" }, el("legend", { text: title }));
        if (hint) fieldset.append(hint);
        const boxes = items.enum.map((v) => {
          const boxId = uid("f");
          const box = el("input", { id: boxId, type: "checkbox", name });
          if (Array.isArray(schema.default)) {
            box.checked = schema.default.some((d) => JSON.stringify(d) === JSON.stringify(v));
          }
          fieldset.append(el("div", { class: "field check" }, box, labelFor(boxId, display(v), false)));
          return [box, v];
        });
        return {
          node: fieldset,
          read: () => {
            const chosen = boxes.filter(([box]) => box.checked).map(([, v]) => v);
            return chosen.length || required ? chosen : OMIT;
          },
        };
      }
      if (["string", "number", "integer"].includes(items.type)) {
        const input = el("textarea", { id, name, rows: "3", required });
        const note = el("p", { class: "hint", id: uid("hint"), text: "One item per line." });
        if (Array.isArray(schema.default)) input.value = schema.default.join("\n");
        describe(input, hint, note);
        return {
          node: el("div", { class: "field" }, labelFor(id, title, required), hint, note, input),
          read: () => {
            const lines = input.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
            if (!lines.length && !required) return OMIT;
            if (items.type === "string") return lines;
            return lines.map((line) => {
              const n = Number(line);
              if (!Number.isFinite(n) || (items.type === "integer" && !Number.isInteger(n))) {
                throw new FieldError(input, `“${line}” is not a ${items.type === "integer" ? "whole number" : "number"}.`);
              }
              return n;
            });
          },
        };
      }
    }

    // Anything else (free-form objects, unions, deep nesting): a JSON text area.
    const input = el("textarea", { id, name, rows: "3", required, class: "mono", spellcheck: "false" });
    const note = el("p", { class: "hint", id: uid("hint"), text: "A JSON value." });
    if (hasDefault) input.value = JSON.stringify(schema.default, null, 2);
    describe(input, hint, note);
    return {
      node: el("div", { class: "field" }, labelFor(id, title, required), hint, note, input),
      read: () => {
        const raw = input.value.trim();
        if (raw === "") return OMIT;
        try {
          return JSON.parse(raw);
        } catch (e) {
          throw new FieldError(input, `Not valid JSON: ${e.message}`);
        }
      },
    };
  }

  function buildProperties(parent, schema, root, depth) {
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    const readers = [];
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      const field = buildField(name, prop, root, required.has(name), depth);
      parent.append(field.node);
      readers.push([name, field.read]);
    }
    return () => {
      const out = {};
      for (const [name, read] of readers) {
        const value = read();
        if (value !== OMIT) out[name] = value;
      }
      return out;
    };
  }

  /* The fields of a response form: the schema's properties, or a single "response" text
   * field when the schema names none (a plain HumanResponseEvent accepts anything). */
  function buildResponseFields(parent, responseSchema) {
    const root = responseSchema && typeof responseSchema === "object" ? responseSchema : {};
    const { schema } = resolve(root, root);
    if (schema.properties && Object.keys(schema.properties).length) {
      return buildProperties(parent, schema, root, 0);
    }
    const field = buildField("response", { type: "string", title: "Response" }, root, true, 0);
    parent.append(field.node);
    return () => ({ response: field.read() });
  }

  // ---------------------------------------------------------------------------- requests
  function promptText(request) {
    const data = (request.prompt && request.prompt.data) || {};
    if (typeof data.prefix === "string" && data.prefix.trim()) return data.prefix;
    if (data.prefix !== undefined && data.prefix !== null && data.prefix !== "") return display(data.prefix);
    return null;
  }

  function factList(data, className) {
    const rest = Object.entries(data || {}).filter(([, v]) => v !== null && v !== undefined);
    if (!rest.length) return null;
    return el(
      "dl",
      { class: `facts ${className || ""}`.trim() },
      ...rest.map(([k, v]) => el("div", {}, el("dt", { text: humanize(k) }), el("dd", { class: typeof v === "string" ? "" : "json", text: display(v) }))),
    );
  }

  /* A prompt's fields that say who should answer and by when: shown as badges. */
  const TASK_FIELDS = new Set(["assignee", "candidate_users", "candidate_groups", "priority", "due", "follow_up"]);

  function promptFields(request) {
    const data = (request.prompt && request.prompt.data) || {};
    const rest = Object.fromEntries(Object.entries(data).filter(([k]) => k !== "prefix" && !TASK_FIELDS.has(k)));
    return factList(rest, "prompt-fields");
  }

  function runHref(runId) {
    return apiUrl(`runs/${encodeURIComponent(runId)}/page`).pathname;
  }

  function shortId(id) {
    return id.length > 14 ? `${id.slice(0, 12)}…` : id;
  }

  /* Whether the person may answer: nobody holds it, they do, or they are an admin. */
  function mayAnswer(request) {
    return !request.assignee || request.assignee === identity.user() || identity.admin();
  }

  function badge(kind, ...children) {
    return el("span", { class: `badge ${kind}` }, ...children);
  }

  /* The task facts of a request as badges: holder (or who may claim it), priority,
   * due (overdue highlighted) and follow-up (highlighted once it has come). */
  function taskBadges(request, me) {
    const out = [];
    const now = Date.now() / 1000;
    if (request.assignee) {
      out.push(request.assignee === me ? badge("holder mine", "Assigned to you") : badge("holder", "Assigned to ", el("strong", { text: request.assignee })));
    } else {
      const offered = [...(request.candidate_users || []), ...(request.candidate_groups || []).map((g) => `${g} (group)`)];
      if (offered.length) out.push(badge("holder offered", `Offered to ${offered.join(", ")}`));
    }
    if (typeof request.priority === "number" && request.priority !== 0) {
      out.push(badge(`priority${request.priority > 0 ? " high" : " low"}`, `Priority ${request.priority}`));
    }
    if (typeof request.due === "number") {
      const overdue = request.overdue_at !== null && request.overdue_at !== undefined ? true : request.due <= now;
      out.push(overdue ? badge("due overdue", "Overdue: due ", timeEl(request.due)) : badge("due", "Due ", timeEl(request.due)));
    }
    if (typeof request.follow_up === "number") {
      const come = request.follow_up <= now;
      out.push(badge(`follow-up${come ? " come" : ""}`, "Follow up ", timeEl(request.follow_up)));
    }
    return out;
  }

  function runLink(runId) {
    return el("a", { href: runHref(runId), class: "run-link", "aria-label": `run ${runId}`, title: runId, text: `run ${shortId(runId)}` });
  }

  const definitionCache = new Map(); // workflow -> {$defs, definitions}

  function needsDefinitions(schema) {
    if (!schema || typeof schema !== "object") return false;
    return JSON.stringify(schema).includes('"$ref"') && !schema.$defs && !schema.definitions;
  }

  function withDefinitions(schema, workflow) {
    if (!needsDefinitions(schema)) return schema;
    const defs = definitionCache.get(workflow) || {};
    const out = { ...schema };
    if (defs.$defs) out.$defs = defs.$defs;
    if (defs.definitions) out.definitions = defs.definitions;
    return out;
  }

  /* What was sent from this page: a visible confirmation per answer (newest first, the
   * last few kept) with a link to the run's page, so an answered card does not just
   * vanish. The page's live region announces it; this list is not a live region. */
  const SENT_KEPT = 5;
  const sentBox = document.getElementById("sent");
  const sentList = document.getElementById("sent-list");
  function confirmSent(request, text, takeFocus) {
    if (!sentBox || !sentList) return;
    const message = el(
      "p",
      { class: "sent-text", tabindex: "-1" },
      el("strong", { text: "Answer sent" }),
      text ? " for " : "",
      text ? el("q", { text }) : null,
      " (",
      el("span", { class: "wf-name", text: request.workflow }),
      "). ",
      el("a", { href: runHref(request.run_id), class: "sent-run", title: request.run_id, text: `Open run ${shortId(request.run_id)}` }),
    );
    const dismiss = el("button", { type: "button", class: "link-button", text: "Dismiss" });
    const item = el("li", { class: "banner ok sent-item" }, message, dismiss);
    item.dataset.requestId = request.request_id;
    dismiss.addEventListener("click", () => {
      item.remove();
      sentBox.hidden = sentList.children.length === 0;
      document.getElementById("page-title")?.focus();
    });
    sentList.prepend(item);
    while (sentList.children.length > SENT_KEPT) sentList.lastElementChild.remove();
    sentBox.hidden = false;
    if (takeFocus) message.focus();
  }

  /* The orders of the inbox, as the server sorts (ties broken by request id):
   * newest first; earliest due first (those without one last); highest priority first. */
  const byId = (a, b) => (a.request_id < b.request_id ? 1 : a.request_id > b.request_id ? -1 : 0);
  const newest = (a, b) => (b.created_at || 0) - (a.created_at || 0) || byId(a, b);
  const REQUEST_ORDERS = {
    created: newest,
    due: (a, b) => {
      const da = typeof a.due === "number" ? a.due : Infinity;
      const db = typeof b.due === "number" ? b.due : Infinity;
      return da === db ? newest(a, b) : da < db ? -1 : 1;
    },
    priority: (a, b) => (b.priority || 0) - (a.priority || 0) || newest(a, b),
  };

  const MAX_LOADED = 10000; // pending requests a page keeps (newest first)
  const CHUNK = 1000; // GET /requests page size (the API's maximum)
  const AUTO_OPEN = 5; // at most this many requests: every answer form is open at once

  /* A live list of pending requests. Every pending request (up to MAX_LOADED) is kept in
   * memory, keyed by id, and changed by the inbox stream's deltas; the page shows one
   * page of the ones matching the workflow filter and the search, as cards built the
   * first time they are shown and kept while their request is pending, so a half-filled
   * form survives paging and other requests coming and going. In compact mode a card is
   * a one-line row whose answer form opens on demand (open at once while few match). */
  class RequestList {
    constructor(
      container,
      { query = {}, accepts = null, grouped = true, headingLevel = 2, emptyEl = null, onRender = null, onAnswered = null, compact = false, pageSize = 0, view = null } = {},
    ) {
      this.container = container;
      this.query = query;
      this.tabAccepts = accepts; // the view's own rule (a tab's), beside status and query
      this.sort = "created";
      this.generation = 0; // bumped when the view changes: a listing for an older one is dropped
      this.quiet = new Set(); // left the view by this page's own action: not announced
      this.movedAway = new Set(); // left the view as someone else took them
      this.grouped = grouped;
      this.headingLevel = headingLevel;
      this.emptyEl = emptyEl;
      this.onRender = onRender;
      this.onAnswered = onAnswered;
      this.compact = compact;
      this.pageSize = pageSize;
      this.view = view; // inbox controls: {workflow, search, summary, pager, prev, next, pageLabel}
      this.items = new Map(); // request_id -> RequestOut, every pending request loaded
      this.cards = new Map(); // request_id -> card entry
      this.groups = new Map(); // workflow -> {node, list, count}
      this.answered = new Set(); // answered (or closed) from this page: never shown again
      this.haystacks = new WeakMap(); // RequestOut -> lower-case text searched
      this.filter = { workflow: "", search: "" };
      this.page = 0;
      this.truncated = false;
      this.knownWorkflows = [];
      this.optionsKey = "";
      this.loaded = false;
      this.pending = null;
      this.dirty = false;
    }

    refresh() {
      if (this.pending) {
        this.dirty = true;
        return this.pending;
      }
      this.pending = (async () => {
        do {
          this.dirty = false;
          try {
            const generation = this.generation;
            const requests = await this.fetchAll();
            if (generation !== this.generation) {
              this.dirty = true; // listed for a view no longer shown: list again
              continue;
            }
            await this.loadDefinitions(requests);
            this.render(requests);
            showLoadError("requests", "");
          } catch (e) {
            if (e.status !== 401) showLoadError("requests", `Could not load the requests: ${e.message}`);
          }
        } while (this.dirty);
      })().finally(() => {
        this.pending = null;
      });
      return this.pending;
    }

    /* Every pending request of the view, newest first, read CHUNK at a time: page
     * after page by the server's cursor (keyset: nothing is skipped or read twice while
     * requests come and go), or by offset from a server that gives no cursor. */
    async fetchAll() {
      const found = new Map();
      let cursor = null;
      let offset = 0;
      while (found.size < MAX_LOADED) {
        const query = { status: "pending", sort: "created", ...this.query, limit: CHUNK };
        if (cursor) query.cursor = cursor;
        else if (offset) query.offset = offset;
        const data = await api("requests", { query });
        const chunk = (data && data.requests) || [];
        for (const r of chunk) if (r && typeof r.request_id === "string") found.set(r.request_id, r);
        const keyset = data && Object.prototype.hasOwnProperty.call(data, "next_cursor");
        if (keyset ? typeof data.next_cursor !== "string" || !data.next_cursor : chunk.length < CHUNK) {
          this.truncated = false;
          return Array.from(found.values());
        }
        if (keyset) cursor = data.next_cursor;
        else offset += CHUNK;
      }
      this.truncated = true;
      return Array.from(found.values());
    }

    /* Whether a request belongs in this list: pending, of the query's run and
     * workflow, and taken by the view's own rule (a tab's). */
    accepts(request) {
      if (!request || request.status !== "pending") return false;
      for (const key of ["run_id", "workflow"]) {
        if (key in this.query && request[key] !== this.query[key]) return false;
      }
      return this.tabAccepts ? this.tabAccepts(request) : true;
    }

    /* Show another set of requests (a tab): list them afresh, without announcing the
     * ones that leave or join as arrivals and departures. */
    setSource(query, accepts) {
      this.query = query;
      this.tabAccepts = accepts;
      this.generation++;
      this.loaded = false;
      this.page = 0;
      return this.refresh();
    }

    /* A request changed (claimed, unclaimed, reassigned): keep it, or drop it when it
     * no longer belongs here. `quiet`: the change was made from this page. */
    upsert(request, quiet = false) {
      if (!this.loaded || this.pending) return this.refresh();
      const next = new Map(this.items);
      if (this.accepts(request)) {
        if (needsDefinitions(request.response_schema) && !definitionCache.has(request.workflow)) {
          return this.refresh();
        }
        next.set(request.request_id, request);
      } else {
        if (!next.has(request.request_id)) return Promise.resolve();
        next.delete(request.request_id);
        if (quiet) this.quiet.add(request.request_id);
      }
      this.render(Array.from(next.values()));
      return Promise.resolve();
    }

    /* Apply one change from the inbox stream (request_created / request_closed, with the
     * RequestOut as data) without listing the inbox again: with hundreds of pages open,
     * a listing per change per page would be the server's main load. Anything it cannot
     * apply on its own (not loaded yet, a listing in flight, definitions to fetch) falls
     * back to a listing. */
    apply(type, request) {
      if (!this.loaded || this.pending || !request || typeof request.request_id !== "string") {
        return this.refresh();
      }
      let next;
      if (type === "request_created" || type === "request_updated") {
        if (type === "request_created" && this.items.has(request.request_id)) return Promise.resolve();
        return this.upsert(request);
      } else if (type === "request_closed" || type === "request_hidden") {
        if (!this.items.has(request.request_id)) return Promise.resolve();
        if (type === "request_hidden") this.movedAway.add(request.request_id);
        next = Array.from(this.items.values()).filter((r) => r.request_id !== request.request_id);
      } else {
        return this.refresh();
      }
      this.render(next);
      return Promise.resolve();
    }

    /* Schemas that $ref definitions they do not carry borrow them from the workflow's
     * own response schema (GET /workflows/{name}), fetched once per workflow. */
    async loadDefinitions(requests) {
      const wanted = new Set();
      for (const r of requests) {
        if (!this.cards.has(r.request_id) && needsDefinitions(r.response_schema)) wanted.add(r.workflow);
      }
      await Promise.all(
        Array.from(wanted)
          .filter((name) => !definitionCache.has(name))
          .map(async (name) => {
            try {
              const wf = await api(`workflows/${encodeURIComponent(name)}`);
              const schema = (wf && wf.response_schema) || {};
              definitionCache.set(name, { $defs: schema.$defs, definitions: schema.definitions });
            } catch (e) {
              if (e.status !== 401) definitionCache.set(name, {});
            }
          }),
      );
    }

    /* Drop every request from the list as closed by this page (a cancelled run's), so
     * it is not announced as closed elsewhere. */
    closeAllHere() {
      for (const id of this.items.keys()) this.answered.add(id);
      this.render([]);
    }

    // -- filter, search, paging
    setFilter(workflow, search) {
      const changed = workflow !== this.filter.workflow || search !== this.filter.search;
      this.filter = { workflow, search };
      if (changed) this.page = 0;
      if (this.loaded) this.draw();
    }

    setPage(page) {
      this.page = Math.max(0, page);
      this.draw();
    }

    setSort(sort) {
      if (sort === this.sort || !REQUEST_ORDERS[sort]) return;
      this.sort = sort;
      this.page = 0;
      if (this.loaded) this.draw();
    }

    setKnownWorkflows(names) {
      this.knownWorkflows = names;
      if (this.loaded) this.draw();
    }

    haystack(request) {
      let text = this.haystacks.get(request);
      if (text === undefined) {
        const data = (request.prompt && request.prompt.data) || {};
        text = [promptText(request) || "", request.workflow, request.run_id, request.request_id, request.prompt ? request.prompt.type : "", JSON.stringify(data)]
          .join("\n")
          .toLowerCase();
        this.haystacks.set(request, text);
      }
      return text;
    }

    matches(request) {
      if (this.filter.workflow && request.workflow !== this.filter.workflow) return false;
      const terms = this.filter.search.toLowerCase().split(/\s+/).filter(Boolean);
      if (!terms.length) return true;
      const text = this.haystack(request);
      return terms.every((t) => text.includes(t));
    }

    group(workflow) {
      let g = this.groups.get(workflow);
      if (g) return g;
      const list = el("ol", { class: `requests${this.compact ? " compact" : ""}` });
      if (!this.grouped) {
        g = { node: list, list, count: null };
      } else {
        const headingId = uid("g");
        const count = el("span", { class: "count" });
        const heading = el(`h${this.headingLevel}`, { id: headingId }, el("span", { class: "wf-name", text: workflow }), " ", count);
        g = { node: el("section", { class: "workflow-group", "aria-labelledby": headingId }, heading, list), list, count };
      }
      this.groups.set(workflow, g);
      return g;
    }

    card(request, open) {
      const titleId = uid("r");
      const text = promptText(request);
      const heading = el(`h${this.headingLevel + 1}`, { id: titleId, class: "prompt", tabindex: "-1", text: text || "Input requested" });
      const meta = el(
        "p",
        { class: "meta" },
        "Asked ",
        timeEl(request.created_at),
        " · ",
        runLink(request.run_id),
        request.deadline ? el("span", {}, " · expires ", timeEl(request.deadline)) : null,
        request.prompt && request.prompt.type && request.prompt.type !== "InputRequiredEvent"
          ? el("span", {}, " · ", el("code", { text: request.prompt.type }))
          : null,
      );
      const body = el("div", { class: "request-body", id: uid("body") });
      const task = el("p", { class: "task" });
      const claim = el("button", { type: "button", class: "secondary claim", "aria-describedby": titleId, text: "Claim" });
      const unclaim = el("button", { type: "button", class: "secondary unclaim", "aria-describedby": titleId, text: "Unclaim" });
      const taskError = el("p", { class: "form-error task-error", role: "alert" });
      const entry = { node: null, request, heading, text, body, toggle: null, open: false, built: false, task, claim, unclaim, taskError, taskKey: "" };
      claim.addEventListener("click", () => this.changeHolder(entry, "claim"));
      unclaim.addEventListener("click", () => this.changeHolder(entry, "unclaim"));
      const holderButtons = el("div", { class: "holder-actions" }, claim, unclaim);
      let head;
      if (this.compact) {
        const toggle = el("button", {
          type: "button",
          class: "secondary toggle",
          "aria-expanded": "false",
          "aria-controls": body.id,
          "aria-describedby": titleId,
          text: "Answer",
        });
        toggle.addEventListener("click", () => {
          this.setOpen(entry, !entry.open);
          if (entry.open) entry.body.querySelector("input, select, textarea, button")?.focus();
        });
        entry.toggle = toggle;
        head = el("div", { class: "request-head" }, el("div", { class: "request-title" }, heading, meta, task), holderButtons, toggle);
      } else {
        head = el("div", { class: "request-head" }, el("div", { class: "request-title" }, heading, meta, task), holderButtons);
      }
      const article = el("article", { class: `card request${this.compact ? " compact" : ""}`, "aria-labelledby": titleId }, head, taskError, body);
      entry.node = el("li", {}, article);
      entry.node.dataset.requestId = request.request_id;
      this.updateTask(entry, request);
      this.setOpen(entry, open && mayAnswer(request));
      return entry;
    }

    /* The card's task line and buttons for the request as it is now: who holds it (or
     * may claim it), its priority, when it is due (overdue highlighted) and when to
     * follow it up; Claim while nobody holds it, Unclaim on the person's own; the
     * answer form only for those who may answer. Rebuilt only when any of it changed. */
    updateTask(entry, request) {
      entry.request = request;
      const me = identity.user();
      const now = Date.now() / 1000;
      const key = JSON.stringify([
        request.assignee, request.candidate_users, request.candidate_groups, request.priority,
        request.due, request.follow_up, request.overdue_at, me, identity.admin(),
        typeof request.due === "number" && request.due <= now,
        typeof request.follow_up === "number" && request.follow_up <= now,
      ]);
      if (key === entry.taskKey) return;
      entry.taskKey = key;
      entry.task.replaceChildren(...taskBadges(request, me));
      entry.task.hidden = entry.task.childNodes.length === 0;
      entry.claim.hidden = Boolean(request.assignee);
      entry.unclaim.hidden = !(request.assignee && request.assignee === me);
      const allowed = mayAnswer(request);
      entry.node.dataset.assignee = request.assignee || "";
      if (entry.toggle) {
        entry.toggle.disabled = !allowed;
        entry.toggle.title = allowed ? "" : `Assigned to ${request.assignee}: only they can answer it.`;
        if (!allowed && entry.open) this.setOpen(entry, false);
      }
      if (entry.form) {
        entry.form.hidden = !allowed;
        entry.locked.hidden = allowed;
        entry.locked.textContent = allowed ? "" : `Assigned to ${request.assignee}: only they (or an admin) can answer it.`;
      }
    }

    /* Show the request as it stands now, after this page's view of it proved stale
     * (someone else claimed it first, say): read it alone, not the whole list. */
    async reread(entry) {
      const id = entry.request.request_id;
      try {
        const fresh = await api(`requests/${encodeURIComponent(id)}`);
        if (fresh && fresh.request_id === id) {
          if (fresh.status === "pending") this.updateTask(entry, fresh);
          this.upsert(fresh);
          return;
        }
      } catch (e) {
        if (e.status === 404 && this.items.has(id)) {
          const next = new Map(this.items);
          next.delete(id);
          this.render(Array.from(next.values()));
          return;
        }
      }
      this.refresh();
    }

    /* Claim or unclaim from the card; the server's answer (the request as it is now)
     * replaces the card's request at once. */
    async changeHolder(entry, action) {
      const button = action === "claim" ? entry.claim : entry.unclaim;
      if (button.disabled) return;
      // Disabling the button takes the focus away from it: remember where it was.
      const hadFocus = entry.node.contains(document.activeElement);
      button.disabled = true;
      entry.taskError.textContent = "";
      const id = entry.request.request_id;
      try {
        const updated = await api(`requests/${encodeURIComponent(id)}/${action}`, { method: "POST", body: {} });
        const what = entry.text || entry.request.workflow;
        announce(action === "claim" ? `Claimed: ${what}. It is assigned to you.` : `Unclaimed: ${what}.`);
        if (updated && updated.request_id === id) {
          this.updateTask(entry, updated);
          this.upsert(updated, true);
          if (hadFocus && entry.node.isConnected) {
            const next = [entry.claim, entry.unclaim].find((b) => !b.hidden) || entry.heading;
            next.focus();
          }
        } else this.refresh();
      } catch (e) {
        if (e.status === 401) entry.taskError.textContent = "Enter the access token above, then try again.";
        else if (e.code === "request_claimed") entry.taskError.textContent = `Not claimed: ${e.message}`;
        else if (e.status === 403) entry.taskError.textContent = `Not allowed: ${e.message}`;
        else if (e.status === 404) entry.taskError.textContent = "This request is gone, or no longer yours to see.";
        else entry.taskError.textContent = e.message;
        if (e.status !== 401) this.reread(entry);
      } finally {
        button.disabled = false;
      }
    }

    setOpen(entry, open) {
      if (open && !entry.built) this.buildBody(entry);
      entry.open = open;
      entry.body.hidden = !open;
      entry.node.classList.toggle("open", open);
      if (entry.toggle) {
        entry.toggle.setAttribute("aria-expanded", String(open));
        entry.toggle.textContent = open ? "Close" : "Answer";
      }
    }

    buildBody(entry) {
      entry.built = true;
      const { request, text } = entry;
      const titleId = entry.heading.id;
      const form = el("form", { class: "response-form", "aria-labelledby": titleId });
      const fields = el("div", { class: "fields" });
      let read;
      try {
        read = buildResponseFields(fields, withDefinitions(request.response_schema, request.workflow));
      } catch (e) {
        read = () => {
          throw new Error(`This form could not be built: ${e.message}`);
        };
      }
      const hasRequired = fields.querySelector(".req") !== null;
      const errorId = uid("err");
      const error = el("p", { class: "form-error", id: errorId, role: "alert" });
      const button = el("button", { type: "submit", text: "Send answer" });
      const status = el("span", { class: "form-status" }); // the page's live region speaks
      if (hasRequired) form.append(el("p", { class: "hint required-note", text: "Fields marked * are required." }));
      form.append(fields, error, el("div", { class: "actions" }, button, status));
      const locked = el("p", { class: "hint locked" });
      entry.form = form;
      entry.locked = locked;
      entry.body.append(...[promptFields(request), locked, form].filter(Boolean));
      entry.taskKey = "";
      this.updateTask(entry, entry.request);
      let lastBody = null;
      let key = null;

      form.addEventListener("input", (ev) => {
        if (ev.target && typeof ev.target.setCustomValidity === "function") ev.target.setCustomValidity("");
        ev.target?.removeAttribute?.("aria-invalid");
      });

      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        if (form.getAttribute("aria-busy") === "true") return;
        error.textContent = "";
        let body;
        try {
          body = read();
        } catch (e) {
          if (e instanceof FieldError) {
            e.input.setCustomValidity(e.message);
            e.input.setAttribute("aria-invalid", "true");
            e.input.reportValidity();
            return;
          }
          error.textContent = e.message;
          return;
        }
        const bodyText = JSON.stringify(body);
        if (bodyText !== lastBody) {
          key = uuid(); // a retry of the same answer reuses its key
          lastBody = bodyText;
        }
        // Disabling the button takes the focus away from it: remember where it was.
        const hadFocus = entry.node.contains(document.activeElement);
        form.setAttribute("aria-busy", "true");
        button.disabled = true;
        status.textContent = "Sending…";
        try {
          await api(`requests/${encodeURIComponent(request.request_id)}/response`, {
            method: "POST",
            body,
            headers: { "Idempotency-Key": key, ...identity.headers() },
          });
          status.textContent = "Answer sent.";
          announce(`Answer sent${text ? `: ${text}` : ""}.`);
          this.answered.add(request.request_id);
          this.render(Array.from(this.items.values()));
          confirmSent(request, text, hadFocus);
          if (this.onAnswered) this.onAnswered(request);
        } catch (e) {
          status.textContent = "";
          if (e.status === 401) error.textContent = "Enter the access token above, then send again.";
          else if (e.status === 409) error.textContent = `Not accepted: ${e.message}`;
          else if (e.status === 422) error.textContent = `The answer was rejected: ${e.message}`;
          else error.textContent = e.message;
          form.setAttribute("aria-describedby", errorId);
          if (e.status === 409) this.refresh();
        } finally {
          form.removeAttribute("aria-busy");
          button.disabled = false;
        }
      });
    }

    /* Replace the pending requests with `requests` (a listing, or the list after a
     * delta) and redraw; announces what arrived and what closed elsewhere. */
    render(requests) {
      requests = requests.filter((r) => !this.answered.has(r.request_id));
      const ids = new Set(requests.map((r) => r.request_id));
      const active = document.activeElement;
      let lostFocus = false;
      let closedElsewhere = 0;
      let movedAway = 0;
      for (const id of this.items.keys()) {
        if (ids.has(id)) continue;
        const card = this.cards.get(id);
        if (card) {
          if (card.node.contains(active)) lostFocus = true;
          card.node.remove();
          this.cards.delete(id);
        }
        if (this.movedAway.has(id)) movedAway++;
        else if (!this.answered.has(id) && !this.quiet.has(id)) closedElsewhere++;
      }
      this.quiet.clear();
      this.movedAway.clear();
      const added = this.loaded ? requests.filter((r) => !this.items.has(r.request_id)) : [];
      this.items = new Map(requests.map((r) => [r.request_id, r]));
      this.draw(lostFocus);
      if (this.loaded) {
        const parts = [];
        if (added.length === 1) parts.push(`New request: ${promptText(added[0]) || added[0].workflow}.`);
        else if (added.length > 1) parts.push(`${added.length} new requests.`);
        if (closedElsewhere) parts.push(`${closedElsewhere} request${closedElsewhere > 1 ? "s were" : " was"} answered or closed elsewhere.`);
        if (movedAway) parts.push(`${movedAway} request${movedAway > 1 ? "s were" : " was"} assigned to someone else.`);
        if (parts.length) announce(parts.join(" "));
      }
      this.loaded = true;
      document.body.dataset.requests = String(requests.length);
      if (this.onRender) this.onRender(requests);
    }

    /* Show the current page of the requests that match the filter and the search. */
    draw(lostFocus = false) {
      const all = Array.from(this.items.values()).sort(REQUEST_ORDERS[this.sort] || REQUEST_ORDERS.created);
      const matching = all.filter((r) => this.matches(r));
      const size = this.pageSize > 0 ? this.pageSize : Math.max(matching.length, 1);
      const pages = Math.max(1, Math.ceil(matching.length / size));
      this.page = Math.min(this.page, pages - 1);
      const shown = matching.slice(this.page * size, (this.page + 1) * size);
      const totals = new Map();
      for (const r of matching) totals.set(r.workflow, (totals.get(r.workflow) || 0) + 1);

      const order = [];
      const byWorkflow = new Map();
      for (const r of shown) {
        const wf = this.grouped ? r.workflow : "";
        if (!byWorkflow.has(wf)) {
          byWorkflow.set(wf, []);
          order.push(wf);
        }
        byWorkflow.get(wf).push(r);
      }
      const active = document.activeElement;
      const onPage = new Set(shown.map((r) => r.request_id));
      for (const [id, card] of this.cards) {
        if (onPage.has(id) || !card.node.parentNode) continue;
        if (card.node.contains(active)) lostFocus = true;
        card.node.remove(); // kept in this.cards: its form survives paging
      }
      for (const [wf, g] of this.groups) {
        if (!byWorkflow.has(wf)) {
          g.node.remove();
          this.groups.delete(wf);
        }
      }
      const openNew = !this.compact || matching.length <= AUTO_OPEN;
      order.forEach((wf, i) => {
        const g = this.group(wf);
        placeAt(this.container, g.node, i);
        if (g.count) g.count.textContent = `${totals.get(wf) || 0} pending`;
        byWorkflow.get(wf).forEach((r, j) => {
          let card = this.cards.get(r.request_id);
          if (!card) {
            card = this.card(r, openNew);
            this.cards.set(r.request_id, card);
          } else this.updateTask(card, r);
          placeAt(g.list, card.node, j);
        });
      });

      if (this.emptyEl) this.emptyEl.hidden = all.length > 0;
      this.container.removeAttribute("aria-busy");
      this.drawControls(all, matching, shown, pages);
      if (lostFocus) {
        const first = shown.length ? this.cards.get(shown[0].request_id) : null;
        (first ? first.heading : document.getElementById("page-title"))?.focus();
      }
    }

    drawControls(all, matching, shown, pages) {
      const v = this.view;
      if (!v) return;
      // Workflow filter: the registered workflows and any with pending requests, with counts.
      const counts = new Map();
      for (const r of all) counts.set(r.workflow, (counts.get(r.workflow) || 0) + 1);
      const names = Array.from(new Set([...this.knownWorkflows, ...counts.keys(), ...(this.filter.workflow ? [this.filter.workflow] : [])])).sort();
      if (v.workflow) {
        const texts = [`All workflows (${all.length})`, ...names.map((n) => `${n} (${counts.get(n) || 0})`)];
        const key = JSON.stringify(names);
        if (key !== this.optionsKey) {
          // Other workflows: new options. Only counts changed: new texts, so an open
          // drop-down is not rebuilt under the pointer.
          this.optionsKey = key;
          v.workflow.replaceChildren(...["", ...names].map((value, i) => el("option", { value, text: texts[i] })));
          v.workflow.value = this.filter.workflow;
        } else {
          Array.from(v.workflow.options).forEach((option, i) => {
            if (option.textContent !== texts[i]) option.textContent = texts[i];
          });
        }
      }
      const filtered = Boolean(this.filter.workflow || this.filter.search.trim());
      let summary;
      if (!all.length) summary = "";
      else if (!matching.length) summary = "No pending request matches the filter and search.";
      else {
        const from = this.page * (this.pageSize || matching.length) + 1;
        summary = `Showing ${from}–${from + shown.length - 1} of ${matching.length} pending`;
        if (filtered) summary += ` (${all.length} in all)`;
        summary += ".";
      }
      if (this.truncated) summary += ` Only the newest ${MAX_LOADED} pending requests are loaded.`;
      if (v.summary && v.summary.textContent !== summary) v.summary.textContent = summary;
      if (v.summary) v.summary.hidden = !summary;
      if (v.pager) {
        v.pager.hidden = pages <= 1;
        v.prev.disabled = this.page <= 0;
        v.next.disabled = this.page >= pages - 1;
        v.pageLabel.textContent = `Page ${this.page + 1} of ${pages}`;
      }
      if (v.onDraw) v.onDraw(this);
    }
  }

  function placeAt(parent, node, index) {
    const current = parent.children[index];
    if (current !== node) parent.insertBefore(node, current || null);
  }

  function errorMessage(data) {
    try {
      const parsed = JSON.parse(data);
      return (parsed && parsed.error && parsed.error.message) || data;
    } catch {
      return data;
    }
  }

  // ---------------------------------------------------------------------------- inbox page
  /* The inbox's tabs: what each lists (GET /requests parameters), the rule a changed
   * request must meet to stay in it, and what it says when empty. */
  const TABS = {
    mine: {
      query: () => ({ mine: "true" }),
      accepts: (r) => Boolean(r.assignee) && r.assignee === identity.user(),
      empty: "Nothing is assigned to you. Claim a request under “My groups” or “All I can see”.",
    },
    groups: {
      query: () => ({ group: "mine" }),
      accepts: (r) => (r.candidate_groups || []).some((g) => identity.groups().includes(g)),
      empty: "No pending request is offered to a group of yours.",
    },
    all: {
      query: () => ({}),
      accepts: null,
      empty: "No pending requests. New ones appear here as they arrive.",
    },
  };

  function inboxPage() {
    const params = new URLSearchParams(location.search);
    const workflowSelect = document.getElementById("filter-workflow");
    const searchInput = document.getElementById("filter-search");
    const sortSelect = document.getElementById("filter-sort");
    const emptyEl = document.getElementById("empty");
    const tabButtons = Array.from(document.querySelectorAll("#inbox-tabs [role=tab]"));
    const pager = document.getElementById("pager");
    let tab = TABS[params.get("tab")] ? params.get("tab") : "all";
    const view = {
      workflow: workflowSelect,
      search: searchInput,
      summary: document.getElementById("inbox-summary"),
      pager,
      prev: document.getElementById("page-prev"),
      next: document.getElementById("page-next"),
      pageLabel: document.getElementById("page-label"),
      onDraw: (list) => {
        // Keep the view in the address, so it survives a reload and can be shared.
        const q = new URLSearchParams();
        if (tab !== "all") q.set("tab", tab);
        if (list.sort !== "created") q.set("sort", list.sort);
        if (list.filter.workflow) q.set("workflow", list.filter.workflow);
        if (list.filter.search) q.set("q", list.filter.search);
        if (list.page) q.set("page", String(list.page + 1));
        const search = q.toString() ? `?${q}` : "";
        if (search !== location.search) history.replaceState(null, "", `${location.pathname}${search}${location.hash}`);
      },
    };
    const list = new RequestList(document.getElementById("inbox"), {
      query: TABS[tab].query(),
      accepts: TABS[tab].accepts,
      emptyEl,
      compact: true,
      pageSize: 50,
      view,
    });
    list.filter = { workflow: params.get("workflow") || "", search: params.get("q") || "" };
    list.page = Math.max(0, (Number.parseInt(params.get("page") || "1", 10) || 1) - 1);
    list.sort = REQUEST_ORDERS[params.get("sort")] ? params.get("sort") : "created";
    searchInput.value = list.filter.search;
    sortSelect.value = list.sort;
    sortSelect.addEventListener("change", () => list.setSort(sortSelect.value));

    function showTab(name) {
      tab = name;
      for (const b of tabButtons) {
        const selected = b.dataset.tab === name;
        b.setAttribute("aria-selected", String(selected));
        b.tabIndex = selected ? 0 : -1;
        if (selected) document.getElementById("inbox").setAttribute("aria-labelledby", b.id);
      }
      emptyEl.textContent = TABS[name].empty;
      document.body.dataset.tab = name;
    }

    function chooseTab(name) {
      if (name === tab) return;
      showTab(name);
      list.setSource(TABS[name].query(), TABS[name].accepts);
    }

    tabButtons.forEach((b, i) => {
      b.addEventListener("click", () => chooseTab(b.dataset.tab));
      b.addEventListener("keydown", (ev) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
        let next = null;
        if (step) next = tabButtons[(i + step + tabButtons.length) % tabButtons.length];
        else if (ev.key === "Home") next = tabButtons[0];
        else if (ev.key === "End") next = tabButtons[tabButtons.length - 1];
        if (!next) return;
        ev.preventDefault();
        next.focus();
        chooseTab(next.dataset.tab);
      });
    });
    showTab(tab);

    // Who "me" is changed (signed in, or another name typed): list the tab afresh.
    identity.onChange(() => {
      if (tab === "all") {
        if (list.loaded) list.draw();
      } else list.setSource(TABS[tab].query(), TABS[tab].accepts);
    });

    document.getElementById("inbox-tools").addEventListener("submit", (ev) => ev.preventDefault());
    workflowSelect.addEventListener("change", () => list.setFilter(workflowSelect.value, searchInput.value));
    let searchTimer = null;
    searchInput.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => list.setFilter(workflowSelect.value, searchInput.value), 150);
    });
    function turn(delta) {
      list.setPage(list.page + delta);
      view.summary.focus();
    }
    view.prev.addEventListener("click", () => turn(-1));
    view.next.addEventListener("click", () => turn(1));

    async function loadWorkflows() {
      try {
        const data = await api("workflows");
        list.setKnownWorkflows(((data && data.workflows) || []).map((w) => w.name).filter((n) => typeof n === "string"));
      } catch {
        // the filter still lists the workflows that have pending requests
      }
    }

    let source = null; // EventSource, when there is no token
    let aborter = null; // AbortController of the fetch stream, when there is one
    let retry = 1000;
    let timer = null;

    function stop() {
      clearTimeout(timer);
      if (source) source.close();
      source = null;
      if (aborter) aborter.abort();
      aborter = null;
    }

    function scheduleReconnect() {
      setLive("offline");
      // A refused stream may mean a missing token: the list fetch finds out (401).
      list.refresh().then(() => {
        if (!auth.needed) timer = setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30000);
      });
    }

    function onMessage(type, data) {
      if (type === "error") {
        // An "error" message sent by the server (e.g. the store is unreachable).
        showLoadError("stream", `Live updates failed: ${errorMessage(data)}`);
        return;
      }
      showLoadError("stream", "");
      if (!["request_created", "request_closed", "request_updated", "request_hidden"].includes(type)) {
        list.refresh(); // "resync": this page missed changes, list them again
        return;
      }
      let request = null;
      try {
        request = JSON.parse(data);
      } catch {
        // not ours: list the inbox instead
      }
      list.apply(type, request);
    }

    function onOpen() {
      retry = 1000;
      setLive("live");
      showLoadError("stream", "");
      list.refresh(); // whatever changed while we were not connected
    }

    function connect() {
      stop();
      if (auth.token) connectWithToken();
      else connectEventSource();
    }

    function connectEventSource() {
      const es = new EventSource(apiUrl("requests/stream"));
      source = es;
      es.addEventListener("open", onOpen);
      for (const type of ["request_created", "request_closed", "request_updated", "request_hidden", "resync", "message"]) {
        es.addEventListener(type, (ev) => onMessage(type, ev.data));
      }
      es.addEventListener("error", (ev) => {
        if (typeof ev.data === "string") return onMessage("error", ev.data);
        if (source !== es) return;
        if (es.readyState !== EventSource.CLOSED) {
          setLive("connecting", "Reconnecting…"); // the browser retries by itself
          return;
        }
        es.close();
        source = null;
        scheduleReconnect();
      });
    }

    /* EventSource cannot send headers: with a token, read the stream with fetch, which
     * sends "Authorization: Bearer" like every other call (no token in the URL). */
    async function connectWithToken() {
      const ctrl = new AbortController();
      aborter = ctrl;
      const sentToken = auth.token;
      try {
        const res = await fetch(apiUrl("requests/stream"), {
          headers: { Accept: "text/event-stream", ...auth.headers(), ...identity.headers() },
          cache: "no-store",
          signal: ctrl.signal,
        });
        if (res.status === 401) {
          if (auth.token === sentToken) auth.require(); // a new token reconnects
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onOpen();
        for await (const msg of sseEvents(res)) onMessage(msg.type, msg.data);
      } catch {
        // network error, or aborted by stop()
      }
      if (aborter !== ctrl) return; // replaced or stopped
      aborter = null;
      scheduleReconnect();
    }

    function start() {
      list.refresh();
      loadWorkflows();
      connect();
    }
    // Who the person is decides what "My tasks" lists: ask first, then list.
    auth.onToken(() => identity.load().finally(start));
    identity.load().finally(start);
    // Changes made by other server processes arrive with the next listing.
    setInterval(() => {
      if (document.visibilityState === "visible" && !auth.needed) list.refresh();
    }, 30000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !auth.needed) list.refresh();
    });
  }

  // ---------------------------------------------------------------------------- graph
  const SVG_NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, String(v));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  const NODE_H = 34;
  const GAP_X = 28;
  const GAP_Y = 44;
  const MARGIN = 16;

  /* A layered drawing of the workflow's step/event graph (GET /workflows/{name} `graph`):
   * cycles are broken where a depth-first walk from the StartEvent meets a node it is
   * still inside, each node goes one layer below its lowest predecessor, and two sweeps
   * order each layer by the mean position of its neighbours. Small graphs only; no
   * library. A person answering is drawn as a dashed edge from each InputRequiredEvent
   * to each HumanResponseEvent. */
  function layoutGraph(graph) {
    const nodes = ((graph && graph.nodes) || [])
      .filter((n) => n && typeof n.id === "string")
      .map((n, index) => ({ id: n.id, label: String(n.label ?? n.id), kind: String(n.kind || "event"), index, layer: 0, pos: 0, x: 0, y: 0, w: 0 }));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const edges = ((graph && graph.edges) || [])
      .filter((e) => e && byId.has(e.source) && byId.has(e.target) && e.source !== e.target)
      .map((e) => ({ source: e.source, target: e.target, person: false, back: false }));
    for (const a of nodes.filter((n) => n.kind === "input")) {
      for (const b of nodes.filter((n) => n.kind === "response")) edges.push({ source: a.id, target: b.id, person: true, back: false });
    }
    const out = new Map(nodes.map((n) => [n.id, []]));
    for (const e of edges) out.get(e.source).push(e);

    const state = new Map();
    const postorder = [];
    function visit(id) {
      state.set(id, 1);
      for (const e of out.get(id)) {
        const s = state.get(e.target);
        if (s === 1) e.back = true;
        else if (!s) visit(e.target);
      }
      state.set(id, 2);
      postorder.push(id);
    }
    for (const n of [...nodes.filter((n) => n.kind === "start"), ...nodes]) if (!state.has(n.id)) visit(n.id);
    for (const id of postorder.reverse()) {
      for (const e of out.get(id)) {
        if (!e.back) byId.get(e.target).layer = Math.max(byId.get(e.target).layer, byId.get(id).layer + 1);
      }
    }
    const layers = [];
    for (const n of nodes) (layers[n.layer] ||= []).push(n);
    for (const layer of layers) if (layer) layer.forEach((n, i) => (n.pos = i));
    const neighbours = (n, up) => edges.filter((e) => !e.back && (up ? e.target === n.id : e.source === n.id)).map((e) => byId.get(up ? e.source : e.target));
    for (const up of [true, false]) {
      const range = up ? layers.slice(1) : layers.slice(0, -1).reverse();
      for (const layer of range) {
        if (!layer) continue;
        for (const n of layer) {
          const near = neighbours(n, up);
          n.bary = near.length ? near.reduce((sum, m) => sum + m.pos, 0) / near.length : n.pos;
        }
        layer.sort((a, b) => a.bary - b.bary || a.index - b.index).forEach((n, i) => (n.pos = i));
      }
    }
    for (const n of nodes) n.w = Math.max(64, Math.round(n.label.length * 7.4) + 28);
    const widths = layers.map((layer) => (layer ? layer.reduce((sum, n) => sum + n.w, 0) + GAP_X * (layer.length - 1) : 0));
    const width = Math.max(160, ...widths) + 2 * MARGIN;
    layers.forEach((layer, i) => {
      if (!layer) return;
      let x = (width - widths[i]) / 2;
      for (const n of layer) {
        n.x = x + n.w / 2;
        n.y = MARGIN + i * (NODE_H + GAP_Y) + NODE_H / 2;
        x += n.w + GAP_X;
      }
    });
    const backs = edges.filter((e) => e.back).length;
    const height = MARGIN * 2 + layers.length * NODE_H + Math.max(0, layers.length - 1) * GAP_Y;
    return { nodes, edges, byId, width: width + backs * 14, height };
  }

  function drawGraph(container, graph, workflow) {
    const layout = layoutGraph(graph);
    const markerId = uid("arrow");
    const root = svg("svg", {
      class: "graph-svg",
      viewBox: `0 0 ${layout.width} ${layout.height}`,
      width: layout.width,
      height: layout.height,
      role: "img",
      "aria-labelledby": "graph-caption",
    });
    root.append(
      svg("defs", {}, svg("marker", { id: markerId, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))),
    );
    const edgeLayer = svg("g", { class: "edges" });
    const nodeLayer = svg("g", { class: "nodes" });
    let backIndex = 0;
    for (const e of layout.edges) {
      const a = layout.byId.get(e.source);
      const b = layout.byId.get(e.target);
      let d;
      if (e.back) {
        // Around the right-hand side, back up to the target.
        const x = Math.max(a.x + a.w / 2, b.x + b.w / 2) + 24 + 14 * backIndex++;
        d = `M${a.x + a.w / 2},${a.y} C${x},${a.y} ${x},${b.y} ${b.x + b.w / 2 + 2},${b.y}`;
      } else {
        const y1 = a.y + NODE_H / 2;
        const y2 = b.y - NODE_H / 2 - 2;
        const mid = (y2 - y1) / 2;
        d = `M${a.x},${y1} C${a.x},${y1 + mid} ${b.x},${y2 - mid} ${b.x},${y2}`;
      }
      const path = svg("path", { d, class: `edge${e.person ? " person" : ""}${e.back ? " back" : ""}`, "marker-end": `url(#${markerId})` });
      path.dataset.source = e.source;
      path.dataset.target = e.target;
      edgeLayer.append(path);
    }
    const nodeEls = new Map();
    for (const n of layout.nodes) {
      const step = n.kind === "step";
      const g = svg(
        "g",
        { class: `node node-${step ? "step" : "event"} kind-${n.kind}`, transform: `translate(${n.x - n.w / 2},${n.y - NODE_H / 2})` },
        svg("title", { text: step ? `step ${n.label}` : `event ${n.label}` }),
        svg("rect", { width: n.w, height: NODE_H, rx: step ? 6 : NODE_H / 2, ry: step ? 6 : NODE_H / 2 }),
        svg("text", { x: n.w / 2, y: NODE_H / 2, text: n.label }),
      );
      g.dataset.id = n.id;
      g.dataset.label = n.label;
      nodeEls.set(n.id, g);
      nodeLayer.append(g);
    }
    root.append(edgeLayer, nodeLayer);
    container.replaceChildren(root);
    container.dataset.workflow = workflow;
    return { root, nodeEls, layout };
  }

  /* Marks the current steps (running, queued, or waiting for an answer) and the event
   * types the run has written so far. */
  function highlightGraph(drawn, currentSteps, seenEvents) {
    if (!drawn) return;
    const current = new Set(currentSteps.map((s) => `step:${s}`));
    for (const [id, g] of drawn.nodeEls) {
      g.classList.toggle("current", current.has(id));
      g.classList.toggle("seen", seenEvents.has(id));
      if (current.has(id)) g.setAttribute("aria-current", "step");
      else g.removeAttribute("aria-current");
      g.querySelector("title").textContent = `${id.startsWith("step:") ? "step" : "event"} ${g.dataset.label}${current.has(id) ? " (current)" : seenEvents.has(id) ? " (seen in this run)" : ""}`;
    }
  }

  // ---------------------------------------------------------------------------- run page
  async function* sseEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let event = { id: null, type: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // A trailing "\r" may be half of a "\r\n" split across chunks: keep it for later.
      const lines = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) yield { id: event.id, type: event.type, data: event.data.join("\n") };
          event = { id: null, type: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // comment: heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") event.data.push(val);
        else if (field === "event") event.type = val;
        else if (field === "id") event.id = val;
      }
    }
  }

  function eventClass(type) {
    if (/Failed|Error|TimedOut|Cancelled/.test(type)) return "ev-error";
    if (/Stop/.test(type)) return "ev-stop";
    if (/InputRequired/.test(type)) return "ev-input";
    if (/HumanResponse/.test(type)) return "ev-response";
    if (/Start/.test(type)) return "ev-start";
    return "";
  }

  /* A run's timeline: the start, its stream events (by seq) and the answers given to
   * it, in time order, each with how long after the previous entry it came. */
  class Timeline {
    constructor(list, emptyEl) {
      this.list = list;
      this.emptyEl = emptyEl;
      this.entries = new Map(); // key -> {node, ts, seq, rank, when, delta}
    }

    entry(key, rank, seq, build) {
      let e = this.entries.get(key);
      if (!e) {
        const when = el("span", { class: "when" });
        const delta = el("span", { class: "delta" });
        const node = build(when, delta);
        node.dataset.key = key;
        if (Number.isFinite(seq)) node.dataset.seq = String(seq);
        e = { node, ts: null, seq, rank, when, delta };
        this.entries.set(key, e);
      }
      return e;
    }

    setTime(e, ts) {
      if (typeof ts !== "number" || e.ts === ts) return;
      e.ts = ts;
      e.node.dataset.ts = String(ts);
      e.when.replaceChildren(absoluteTimeEl(ts));
    }

    /* Sorted by time; entries not timed yet (just streamed) after the timed ones, by seq. */
    layout() {
      const all = Array.from(this.entries.values()).sort((a, b) => {
        const ta = a.ts ?? Infinity;
        const tb = b.ts ?? Infinity;
        if (ta !== tb) return ta - tb;
        if (a.rank !== b.rank) return a.rank - b.rank;
        return (a.seq ?? 0) - (b.seq ?? 0);
      });
      all.forEach((e, i) => placeAt(this.list, e.node, i));
      let previous = null;
      for (const e of all) {
        if (typeof e.ts === "number" && previous !== null) {
          const text = `+${formatDuration(e.ts - previous)}`;
          if (e.delta.textContent !== text) {
            e.delta.textContent = text;
            e.delta.title = "after the previous entry";
          }
        } else e.delta.textContent = "";
        if (typeof e.ts === "number") previous = e.ts;
      }
      this.emptyEl.hidden = all.length > 0;
    }
  }

  /* One line of a request's history: "Claimed by ada at <time>". */
  function auditLine(entry) {
    const d = entry.detail && typeof entry.detail === "object" ? entry.detail : {};
    const who = (name) => el("strong", { class: "who", text: name });
    const by = entry.actor ? [" by ", who(entry.actor)] : [];
    const what = {
      created: ["Created"],
      claimed: ["Claimed", ...by],
      unclaimed: ["Unclaimed", ...by],
      assigned: d.assignee ? ["Assigned to ", who(String(d.assignee)), ...by] : ["Unassigned", ...by],
      answered: ["Answered", ...by],
      overdue: ["Overdue"],
      expired: ["Expired"],
      cancelled: ["Cancelled"],
    }[entry.action] || [humanize(entry.action), ...by];
    const line = el("li", { class: `audit-entry audit-${entry.action}` }, el("span", { class: "audit-what" }, ...what), " at ", absoluteTimeEl(entry.at));
    line.dataset.action = entry.action;
    return line;
  }

  function runPage() {
    const runId = document.body.dataset.runId || "";
    document.getElementById("run-id").textContent = runId;
    document.title = `Run ${runId} · workflows`;
    const timeline = new Timeline(document.getElementById("timeline"), document.getElementById("timeline-empty"));
    const requestsSection = document.getElementById("run-requests");
    const answersList = document.getElementById("answers");
    const answersEmpty = document.getElementById("answers-empty");
    const graphBox = document.getElementById("graph");
    const graphCaption = document.getElementById("graph-caption");
    const historyList = document.getElementById("history");
    const historyEmpty = document.getElementById("history-empty");
    const cancelButton = document.getElementById("cancel-run");
    const cancelConfirm = document.getElementById("cancel-confirm");
    const cancelYes = document.getElementById("cancel-yes");
    const cancelNo = document.getElementById("cancel-no");
    const cancelError = document.getElementById("cancel-error");
    const requests = new RequestList(document.getElementById("inbox"), {
      query: { run_id: runId },
      grouped: false,
      onRender: (items) => {
        requestsSection.hidden = items.length === 0;
      },
      onAnswered: () => {
        refreshAnswers();
        refreshRun();
      },
    });
    const seenEvents = new Set(); // graph node ids of the event types written so far
    const graphKinds = new Map(); // graph node id -> kind
    let run = null;
    let lastSeq = null; // of the SSE stream
    let historySeq = 0; // of GET /runs/{id}/history
    let status = null;
    let finished = false;
    let notFound = false;
    let drawn = null;
    let graphFor = null;

    function coalesced(fn) {
      let running = null;
      let again = false;
      return () => {
        if (running) {
          again = true;
          return running;
        }
        running = (async () => {
          do {
            again = false;
            await fn();
          } while (again);
        })().finally(() => {
          running = null;
        });
        return running;
      };
    }

    function describeCurrent(r) {
      const steps = Array.isArray(r.current_steps) ? r.current_steps : [];
      if (TERMINAL.has(r.status) || r.status === "quarantined") return `none: the run is ${r.status.replace("_", " ")}`;
      if (!steps.length) return r.status === "waiting" ? "waiting" : "between steps";
      const names = steps.join(", ");
      return r.status === "waiting" ? `${names} (waiting for an answer)` : names;
    }

    /* The start event as a compact table: one row a field (or "not recorded"). */
    function showStartInput(input) {
      const table = document.getElementById("run-input");
      const missing = document.getElementById("run-input-missing");
      const recorded = Boolean(input && typeof input === "object");
      table.hidden = !recorded;
      missing.hidden = recorded;
      if (!recorded) return;
      const caption = document.getElementById("run-input-type");
      caption.textContent = input.type || "StartEvent";
      caption.title = input.type_key || "";
      const entries = Object.entries(input.data && typeof input.data === "object" ? input.data : {});
      const rows = entries.map(([k, v]) =>
        el("tr", {}, el("th", { scope: "row", text: k }), el("td", { class: typeof v === "string" ? "" : "json", text: display(v) })),
      );
      if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "2", class: "hint", text: "No fields." })));
      table.tBodies[0].replaceChildren(...rows);
    }

    function updateGraph() {
      if (!run) return;
      const steps = Array.isArray(run.current_steps) ? run.current_steps : [];
      highlightGraph(drawn, steps, seenEvents);
      const where = describeCurrent(run);
      graphCaption.textContent = `Workflow ${run.workflow}. Current step: ${where}.`;
    }

    async function loadGraph(workflow) {
      if (graphFor === workflow) return;
      graphFor = workflow;
      try {
        const wf = await api(`workflows/${encodeURIComponent(workflow)}`);
        const graph = (wf && wf.graph) || { nodes: [], edges: [] };
        for (const n of graph.nodes || []) if (n && typeof n.id === "string") graphKinds.set(n.id, n.kind);
        drawn = drawGraph(graphBox, graph, workflow);
        document.getElementById("legend-person").hidden = !drawn.layout.edges.some((e) => e.person);
        refreshAnswers(); // marks the answers' event type once the kinds are known
        showLoadError("graph", "");
        updateGraph();
      } catch (e) {
        graphFor = null;
        if (e.status === 404) graphBox.replaceChildren(el("p", { class: "hint", text: `Workflow ${workflow} is not registered on this server: no graph.` }));
        else if (e.status !== 401) showLoadError("graph", `Could not load the workflow's graph: ${e.message}`);
      }
    }

    function showRun(r) {
      run = r;
      document.getElementById("run-workflow").textContent = r.workflow;
      const badge = document.getElementById("run-status");
      badge.textContent = r.status;
      badge.className = `status status-${r.status}`;
      document.getElementById("run-created").replaceChildren(absoluteTimeEl(r.created_at));
      document.getElementById("run-updated").replaceChildren(absoluteTimeEl(r.updated_at));
      const done = TERMINAL.has(r.status) || r.status === "quarantined";
      const took = typeof r.updated_at === "number" && typeof r.created_at === "number" ? formatDuration(r.updated_at - r.created_at) : "";
      document.getElementById("run-duration").textContent = done ? `${took} (start to finish)` : `${took} so far (start to last change)`;
      document.getElementById("run-current").textContent = describeCurrent(r);
      showStartInput(r.input);
      const resultBox = document.getElementById("run-result-box");
      resultBox.hidden = !(r.status === "completed" || (r.result !== null && r.result !== undefined));
      document.getElementById("run-result").textContent = display(r.result === undefined ? null : r.result);
      const errorBox = document.getElementById("run-error-box");
      errorBox.hidden = !r.error;
      document.getElementById("run-error").textContent = r.error ? `${r.error.type}: ${r.error.message}` : "";
      if (status !== null && status !== r.status) announce(`Run ${r.status.replace("_", " ")}.`);
      status = r.status;
      finished = TERMINAL.has(r.status);
      document.body.dataset.status = r.status;
      cancelButton.hidden = done;
      if (done) cancelConfirm.hidden = true;
      const started = timeline.entry("start", 0, undefined, (when, delta) =>
        el("li", { class: "event ev-start" }, el("div", { class: "event-head" }, el("strong", { class: "etype", text: "Run started" }), " ", when, " ", delta)),
      );
      timeline.setTime(started, r.created_at);
      timeline.layout();
      loadGraph(r.workflow);
      updateGraph();
    }

    const refreshRun = coalesced(async () => {
      try {
        showRun(await api(`runs/${encodeURIComponent(runId)}`));
        showLoadError("run", "");
      } catch (e) {
        if (e.status === 404) {
          notFound = true;
          showLoadError("run", `There is no run with id ${runId}.`);
        } else if (e.status !== 401) showLoadError("run", `Could not load the run: ${e.message}`);
      }
    });

    function addEvent(ev, idField) {
      const seq = typeof ev.seq === "number" ? ev.seq : Number(idField);
      if (Number.isFinite(seq)) lastSeq = lastSeq === null ? seq : Math.max(lastSeq, seq);
      const type = ev.type || "Event";
      const data = ev.data && typeof ev.data === "object" ? ev.data : {};
      const key = Number.isFinite(seq) ? `seq:${seq}` : `ev:${uid("e")}`;
      const e = timeline.entry(key, 1, Number.isFinite(seq) ? seq : undefined, (when, delta) => {
        const entries = Object.entries(data);
        return el(
          "li",
          { class: `event ${eventClass(type)}` },
          el(
            "div",
            { class: "event-head" },
            el("span", { class: "seq", text: Number.isFinite(seq) ? `#${seq}` : "" }),
            " ",
            el("strong", { class: "etype", title: ev.type_key || type, text: type }),
            " ",
            when,
            " ",
            delta,
          ),
          ev.corrupt ? el("p", { class: "error", text: `This stored event cannot be read: ${Object.values(ev.corrupt).join("; ")}` }) : null,
          entries.length
            ? el(
                "dl",
                { class: "facts" },
                ...entries.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { class: typeof v === "string" ? "" : "json", text: display(v) }))),
              )
            : null,
        );
      });
      if (typeof ev.created_at === "number") timeline.setTime(e, ev.created_at);
      if (ev.type_key) seenEvents.add(`event:${ev.type_key}`);
    }

    const loadHistory = coalesced(async () => {
      try {
        for (;;) {
          const data = await api(`runs/${encodeURIComponent(runId)}/history`, { query: { after: historySeq, limit: 1000 } });
          const events = (data && data.events) || [];
          for (const ev of events) {
            addEvent(ev);
            if (typeof ev.seq === "number") historySeq = Math.max(historySeq, ev.seq);
          }
          if (events.length < 1000) break;
        }
        timeline.layout();
        updateGraph();
        showLoadError("history", "");
      } catch (e) {
        if (e.status !== 401 && e.status !== 404) showLoadError("history", `Could not load the run's history: ${e.message}`);
      }
    });

    function answererEl(r) {
      return r.answered_by ? el("strong", { class: "who", text: r.answered_by }) : el("span", { class: "who unnamed", text: "someone not named" });
    }

    function answerCard(r) {
      const text = promptText(r) || "Input requested";
      const verb = { answered: "answered", expired: "expired", cancelled: "cancelled" }[r.status] || r.status;
      const at = typeof r.answered_at === "number" ? r.answered_at : null;
      const waited = at !== null && typeof r.created_at === "number" ? formatDuration(at - r.created_at) : "";
      const item = el(
        "li",
        { class: `card answer answer-${r.status}` },
        el("h3", { class: "prompt", text }),
        el(
          "p",
          { class: "meta" },
          "Asked ",
          absoluteTimeEl(r.created_at),
          el("span", { class: "answer-when" }, ` · ${verb} `, at !== null ? absoluteTimeEl(at) : "(time not recorded)"),
          r.status === "answered" ? el("span", { class: "answer-by" }, " by ", answererEl(r)) : null,
          waited ? el("span", { class: "answer-after" }, ` · ${waited} after it was asked`) : null,
        ),
        r.response ? factList(r.response, "answer-fields") : el("p", { class: "hint", text: r.status === "answered" ? "Answered without fields." : "No answer was given." }),
      );
      item.dataset.requestId = r.request_id;
      return item;
    }

    /* Each request's history (GET /requests/{id}/audit): who claimed, reassigned and
     * answered it, and when. Read again only for a request that changed since. */
    const historyKeys = new Map(); // request_id -> what the shown history was read for
    const historyItems = new Map(); // request_id -> <li>
    let historyQueue = Promise.resolve();
    async function refreshHistory(requests) {
      const ordered = requests.filter((r) => r && typeof r.request_id === "string").sort((a, b) => (a.created_at || 0) - (b.created_at || 0));
      await Promise.all(
        ordered.map(async (r) => {
          const key = JSON.stringify([r.status, r.assignee, r.answered_at, r.overdue_at]);
          if (historyKeys.get(r.request_id) === key) return;
          try {
            const data = await api(`requests/${encodeURIComponent(r.request_id)}/audit`);
            const entries = (data && Array.isArray(data.audit) ? data.audit : []).filter((a) => a && typeof a.action === "string");
            const card = historyCard(r, entries);
            const shown = historyItems.get(r.request_id);
            if (shown) shown.replaceWith(card);
            historyItems.set(r.request_id, card);
            historyKeys.set(r.request_id, key);
            showLoadError("history-audit", "");
          } catch (e) {
            if (e.status === 404) historyKeys.set(r.request_id, key); // not ours to see, or a server without audit
            else if (e.status !== 401) showLoadError("history-audit", `Could not load a request's history: ${e.message}`);
          }
        }),
      );
      const items = ordered.map((r) => historyItems.get(r.request_id)).filter(Boolean);
      items.forEach((item, i) => placeAt(historyList, item, i));
      historyEmpty.hidden = items.length > 0;
    }

    function historyCard(r, entries) {
      const item = el(
        "li",
        { class: `card request-history history-${r.status}` },
        el("h3", { class: "prompt", text: promptText(r) || "Input requested" }),
        el("ol", { class: "audit" }, ...entries.map(auditLine)),
      );
      item.dataset.requestId = r.request_id;
      return item;
    }

    const refreshAnswers = coalesced(async () => {
      try {
        const data = await api("requests", { query: { run_id: runId, status: "all", limit: 1000 } });
        const listed = (data && data.requests) || [];
        historyQueue = historyQueue.then(() => refreshHistory(listed)); // one at a time, in order
        const closed = ((data && data.requests) || [])
          .filter((r) => r && r.status !== "pending")
          .sort((a, b) => (a.answered_at ?? a.created_at) - (b.answered_at ?? b.created_at));
        answersList.replaceChildren(...closed.map(answerCard));
        answersEmpty.hidden = closed.length > 0;
        for (const r of closed) {
          const e = timeline.entry(`answer:${r.request_id}`, 2, undefined, (when, delta) =>
            el(
              "li",
              { class: `event ev-response ev-answer answer-${r.status}` },
              el(
                "div",
                { class: "event-head" },
                el("strong", { class: "etype", text: r.status === "answered" ? "Answer" : `Request ${r.status}` }),
                " ",
                el("span", { class: "answer-to" }, "to ", el("q", { text: promptText(r) || "Input requested" })),
                r.status === "answered" ? el("span", { class: "answer-by" }, " by ", answererEl(r)) : null,
                " ",
                when,
                " ",
                delta,
              ),
              r.response ? factList(r.response) : null,
            ),
          );
          timeline.setTime(e, r.answered_at ?? null);
          if (r.status === "answered") {
            for (const [id, kind] of graphKinds) if (kind === "response") seenEvents.add(id);
          }
        }
        timeline.layout();
        showLoadError("answers", "");
      } catch (e) {
        if (e.status !== 401 && e.status !== 404) showLoadError("answers", `Could not load the answers: ${e.message}`);
      }
    });

    // -- cancel
    cancelButton.addEventListener("click", () => {
      cancelError.textContent = "";
      cancelConfirm.hidden = false;
      cancelNo.focus();
    });
    cancelNo.addEventListener("click", () => {
      cancelConfirm.hidden = true;
      cancelButton.focus();
    });
    cancelYes.addEventListener("click", async () => {
      cancelYes.disabled = true;
      cancelError.textContent = "";
      try {
        const r = await api(`runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" });
        cancelConfirm.hidden = true;
        requests.closeAllHere(); // its requests closed with it
        showRun(r);
        document.getElementById("run-status").focus();
        requests.refresh();
        refreshAnswers();
        loadHistory();
      } catch (e) {
        if (e.status === 409) cancelError.textContent = `Not cancelled: ${e.message}`;
        else if (e.status === 401) cancelError.textContent = "Enter the access token above, then cancel again.";
        else cancelError.textContent = `Not cancelled: ${e.message}`;
        refreshRun();
      } finally {
        cancelYes.disabled = false;
      }
    });

    // -- checkpoints: the states the run went through, each a place to fork from
    const checkpointsList = document.getElementById("checkpoints");
    const checkpointsEmpty = document.getElementById("checkpoints-empty");
    const lineageEl = document.getElementById("lineage");
    const forksBox = document.getElementById("forks-box");
    const forksList = document.getElementById("forks");
    const forkError = document.getElementById("fork-error");
    let checkpointsShown = null; // what the list shows, to redraw only on a change
    const forkedHere = new Set(); // forks made from this page

    function checkpointClass(c) {
      const causes = Array.isArray(c.causes) ? c.causes : [];
      if (causes.includes("fork")) return "cp-fork";
      if (causes.includes("edit")) return "cp-edit";
      if (c.status === "waiting") return "cp-waiting";
      if (TERMINAL.has(c.status) || c.status === "quarantined") return "cp-done";
      return "";
    }

    async function forkFrom(c, button) {
      button.disabled = true;
      forkError.textContent = "";
      try {
        const fork = await api(`runs/${encodeURIComponent(runId)}/fork`, {
          method: "POST",
          body: { checkpoint: c.checkpoint_id },
          headers: identity.headers(),
        });
        forkedHere.add(fork.run_id);
        announce(`Forked from checkpoint ${c.seq} as run ${fork.run_id}.`);
        await loadCheckpoints();
        forksList.querySelector(`li[data-run-id="${CSS.escape(fork.run_id)}"] a`)?.focus();
      } catch (e) {
        if (e.status === 401) forkError.textContent = "Enter the access token above, then fork again.";
        else forkError.textContent = `Not forked: ${e.message}`;
      } finally {
        button.disabled = false;
      }
    }

    function checkpointItem(c) {
      const headId = uid("checkpoint");
      const ended = TERMINAL.has(c.status) || c.status === "quarantined";
      const causes = Array.isArray(c.causes) && c.causes.length ? c.causes.join(", ") : "–";
      const who = [c.by ? `by ${c.by}` : "", c.reason ? `(${c.reason})` : ""].filter(Boolean).join(" ");
      const button = ended
        ? null
        : el("button", { type: "button", class: "secondary fork-button", "aria-describedby": headId, text: "Fork from here" });
      const item = el(
        "li",
        { class: `event checkpoint ${checkpointClass(c)}` },
        el(
          "div",
          { class: "event-head" },
          el("strong", { id: headId, class: "etype", text: `Checkpoint ${c.seq}` }),
          " ",
          el("span", { class: `status status-${c.status}`, text: c.status }),
          " ",
          el("span", { class: "causes", text: causes }),
          " ",
          el("span", { class: "when" }, absoluteTimeEl(c.at)),
        ),
        who ? el("p", { class: "meta", text: who }) : null,
        c.forked_from ? el("p", { class: "meta", text: `forked from ${c.forked_from}` }) : null,
        button,
      );
      item.dataset.seq = String(c.seq);
      item.dataset.status = c.status;
      if (button) button.addEventListener("click", () => forkFrom(c, button));
      return item;
    }

    function showLineage(own) {
      lineageEl.hidden = !own;
      if (!own) return;
      lineageEl.replaceChildren(
        "Forked from ",
        runLink(own.parent_run_id),
        ` at checkpoint ${own.parent_seq}, `,
        absoluteTimeEl(own.created_at),
        ".",
      );
    }

    function forkItem(link) {
      const fresh = forkedHere.has(link.run_id);
      const item = el(
        "li",
        { class: fresh ? "new" : "" },
        runLink(link.run_id),
        ` from checkpoint ${link.parent_seq}, `,
        absoluteTimeEl(link.created_at),
        fresh ? " (forked from this page)" : null,
      );
      item.dataset.runId = link.run_id;
      return item;
    }

    const loadCheckpoints = coalesced(async () => {
      try {
        const data = await api(`runs/${encodeURIComponent(runId)}/checkpoints`);
        const signature = JSON.stringify([data, Array.from(forkedHere)]);
        if (signature === checkpointsShown) return;
        checkpointsShown = signature;
        const kept = (data && data.checkpoints) || [];
        checkpointsList.replaceChildren(...kept.map(checkpointItem));
        checkpointsEmpty.hidden = kept.length > 0;
        showLineage(data && data.forked_from);
        const forks = (data && data.forks) || [];
        forksList.replaceChildren(...forks.map(forkItem));
        forksBox.hidden = forks.length === 0;
        showLoadError("checkpoints", "");
      } catch (e) {
        if (e.status !== 401 && e.status !== 404) showLoadError("checkpoints", `Could not load the run's checkpoints: ${e.message}`);
      }
    });

    function refreshAll() {
      refreshRun();
      requests.refresh();
      refreshAnswers();
      loadHistory();
      loadCheckpoints();
    }

    async function stream() {
      let retry = 1000;
      while (!notFound) {
        const u = apiUrl(`runs/${encodeURIComponent(runId)}/events`, { after: lastSeq });
        let ended = false;
        const sentToken = auth.token;
        try {
          const res = await fetch(u, { headers: { Accept: "text/event-stream", ...auth.headers() }, cache: "no-store" });
          if (res.status === 401) {
            if (auth.token === sentToken) {
              auth.require();
              await auth.waitForToken();
            }
            continue; // with the token entered meanwhile
          }
          if (res.status === 404) {
            notFound = true;
            showLoadError("run", `There is no run with id ${runId}.`);
            setLive("offline", "Not found");
            return;
          }
          if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          setLive("live");
          retry = 1000;
          showLoadError("stream", "");
          for await (const msg of sseEvents(res)) {
            if (msg.type === "error") {
              showLoadError("stream", `The event stream failed: ${errorMessage(msg.data)}`);
              continue;
            }
            let ev;
            try {
              ev = JSON.parse(msg.data);
            } catch {
              continue;
            }
            addEvent(ev, msg.id);
            timeline.layout();
            refreshAll();
          }
          ended = true;
        } catch {
          setLive("offline");
        }
        await refreshRun();
        refreshAll();
        if (finished) {
          setLive("done", "Finished");
          return;
        }
        await new Promise((r) => setTimeout(r, ended ? 1000 : retry));
        if (!ended) retry = Math.min(retry * 2, 30000);
      }
    }

    identity.onChange(() => {
      if (requests.loaded) requests.draw();
    });
    auth.onToken(() => identity.load().finally(refreshAll));
    identity.load().finally(() => {
      refreshAll();
      stream();
    });
  }

  if (document.body.dataset.page === "run") runPage();
  else inboxPage();
})();
