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

  async function api(path, { method = "GET", body, headers = {}, query } = {}) {
    const h = { Accept: "application/json", ...auth.headers(), ...headers };
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
      if (res.status === 401) auth.require();
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

  function promptFields(request) {
    const data = (request.prompt && request.prompt.data) || {};
    const rest = Object.entries(data).filter(([k, v]) => k !== "prefix" && v !== null && v !== undefined);
    if (!rest.length) return null;
    return el(
      "dl",
      { class: "facts prompt-fields" },
      ...rest.map(([k, v]) => el("div", {}, el("dt", { text: humanize(k) }), el("dd", { class: typeof v === "string" ? "" : "json", text: display(v) }))),
    );
  }

  function runLink(runId) {
    const href = apiUrl(`runs/${encodeURIComponent(runId)}/page`).pathname;
    const short = runId.length > 14 ? `${runId.slice(0, 12)}…` : runId;
    return el("a", { href, class: "run-link", "aria-label": `run ${runId}`, title: runId, text: `run ${short}` });
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

  /* A live list of request cards. Cards are keyed by request id and kept across
   * refreshes, so a half-filled form survives other requests coming and going. */
  class RequestList {
    constructor(container, { query = {}, grouped = true, headingLevel = 2, emptyEl = null, onRender = null } = {}) {
      this.container = container;
      this.query = query;
      this.grouped = grouped;
      this.headingLevel = headingLevel;
      this.emptyEl = emptyEl;
      this.onRender = onRender;
      this.cards = new Map(); // request_id -> {node, request, heading}
      this.groups = new Map(); // workflow -> {node, list, count}
      this.answered = new Set(); // answered from this page
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
            const data = await api("requests", { query: { status: "pending", ...this.query } });
            const requests = (data && data.requests) || [];
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

    /* Apply one change from the inbox stream (request_created / request_closed, with the
     * RequestOut as data) without listing the inbox again: with hundreds of pages open,
     * a listing per change per page would be the server's main load. Anything it cannot
     * apply on its own (not loaded yet, a listing in flight, definitions to fetch) falls
     * back to a listing. */
    apply(type, request) {
      if (!this.loaded || this.pending || !request || typeof request.request_id !== "string") {
        return this.refresh();
      }
      for (const [key, value] of Object.entries(this.query)) {
        if (request[key] !== value) return Promise.resolve();
      }
      const current = Array.from(this.cards.values(), (card) => card.request);
      let next;
      if (type === "request_created" && request.status === "pending") {
        if (this.cards.has(request.request_id)) return Promise.resolve();
        if (needsDefinitions(request.response_schema) && !definitionCache.has(request.workflow)) {
          return this.refresh();
        }
        next = current.concat([request]);
      } else if (type === "request_closed") {
        if (!this.cards.has(request.request_id)) return Promise.resolve();
        next = current.filter((r) => r.request_id !== request.request_id);
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

    group(workflow) {
      let g = this.groups.get(workflow);
      if (g) return g;
      const list = el("ol", { class: "requests" });
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

    card(request) {
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
        request.deadline ? el("span", {}, " · due ", timeEl(request.deadline)) : null,
        request.prompt && request.prompt.type && request.prompt.type !== "InputRequiredEvent"
          ? el("span", {}, " · ", el("code", { text: request.prompt.type }))
          : null,
      );
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
      const node = el("li", {}, el("article", { class: "card request", "aria-labelledby": titleId }, heading, meta, promptFields(request), form));
      const entry = { node, request, heading };
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
        form.setAttribute("aria-busy", "true");
        button.disabled = true;
        status.textContent = "Sending…";
        try {
          await api(`requests/${encodeURIComponent(request.request_id)}/response`, {
            method: "POST",
            body,
            headers: { "Idempotency-Key": key },
          });
          this.answered.add(request.request_id);
          status.textContent = "Answer sent.";
          announce(`Answer sent${text ? `: ${text}` : ""}.`);
          this.refresh();
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
      return entry;
    }

    render(requests) {
      requests = requests.slice().sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
      const ids = new Set(requests.map((r) => r.request_id));
      const active = document.activeElement;
      let lostFocus = false;
      let closedElsewhere = 0;
      for (const [id, card] of this.cards) {
        if (ids.has(id)) continue;
        if (card.node.contains(active)) lostFocus = true;
        card.node.remove();
        this.cards.delete(id);
        if (!this.answered.delete(id)) closedElsewhere++;
      }

      const order = [];
      const byWorkflow = new Map();
      for (const r of requests) {
        const wf = this.grouped ? r.workflow : "";
        if (!byWorkflow.has(wf)) {
          byWorkflow.set(wf, []);
          order.push(wf);
        }
        byWorkflow.get(wf).push(r);
      }
      for (const [wf, g] of this.groups) {
        if (!byWorkflow.has(wf)) {
          g.node.remove();
          this.groups.delete(wf);
        }
      }
      const added = [];
      order.forEach((wf, i) => {
        const g = this.group(wf);
        placeAt(this.container, g.node, i);
        const items = byWorkflow.get(wf);
        if (g.count) g.count.textContent = `${items.length} pending`;
        items.forEach((r, j) => {
          let card = this.cards.get(r.request_id);
          if (!card) {
            card = this.card(r);
            this.cards.set(r.request_id, card);
            added.push(r);
          }
          placeAt(g.list, card.node, j);
        });
      });

      if (this.emptyEl) this.emptyEl.hidden = requests.length > 0;
      this.container.removeAttribute("aria-busy");
      if (lostFocus) {
        const first = this.cards.values().next().value;
        (first ? first.heading : document.getElementById("page-title"))?.focus();
      }
      if (this.loaded) {
        const parts = [];
        if (added.length === 1) parts.push(`New request: ${promptText(added[0]) || added[0].workflow}.`);
        else if (added.length > 1) parts.push(`${added.length} new requests.`);
        if (closedElsewhere) parts.push(`${closedElsewhere} request${closedElsewhere > 1 ? "s were" : " was"} answered or closed elsewhere.`);
        if (parts.length) announce(parts.join(" "));
      }
      this.loaded = true;
      document.body.dataset.requests = String(requests.length);
      if (this.onRender) this.onRender(requests);
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
  function inboxPage() {
    const list = new RequestList(document.getElementById("inbox"), {
      emptyEl: document.getElementById("empty"),
    });
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
      if (type !== "request_created" && type !== "request_closed") {
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
      for (const type of ["request_created", "request_closed", "resync", "message"]) {
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
      try {
        const res = await fetch(apiUrl("requests/stream"), {
          headers: { Accept: "text/event-stream", ...auth.headers() },
          cache: "no-store",
          signal: ctrl.signal,
        });
        if (res.status === 401) {
          auth.require(); // a new token reconnects
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

    auth.onToken(() => {
      list.refresh();
      connect();
    });
    list.refresh();
    connect();
    // Changes made by other server processes arrive with the next listing.
    setInterval(() => {
      if (document.visibilityState === "visible" && !auth.needed) list.refresh();
    }, 30000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !auth.needed) list.refresh();
    });
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

  function runPage() {
    const runId = document.body.dataset.runId || "";
    document.getElementById("run-id").textContent = runId;
    document.title = `Run ${runId} · workflows`;
    const timeline = document.getElementById("timeline");
    const timelineEmpty = document.getElementById("timeline-empty");
    const requestsSection = document.getElementById("run-requests");
    const requests = new RequestList(document.getElementById("inbox"), {
      query: { run_id: runId },
      grouped: false,
      onRender: (items) => {
        requestsSection.hidden = items.length === 0;
      },
    });
    const seen = new Set();
    let lastSeq = null;
    let status = null;
    let finished = false;
    let notFound = false;
    let loading = null;
    let again = false;

    function showRun(run) {
      document.getElementById("run-workflow").textContent = run.workflow;
      const badge = document.getElementById("run-status");
      badge.textContent = run.status;
      badge.className = `status status-${run.status}`;
      document.getElementById("run-created").replaceChildren(timeEl(run.created_at));
      document.getElementById("run-updated").replaceChildren(timeEl(run.updated_at));
      const resultBox = document.getElementById("run-result-box");
      resultBox.hidden = !(run.status === "completed" || (run.result !== null && run.result !== undefined));
      document.getElementById("run-result").textContent = display(run.result === undefined ? null : run.result);
      const errorBox = document.getElementById("run-error-box");
      errorBox.hidden = !run.error;
      document.getElementById("run-error").textContent = run.error ? `${run.error.type}: ${run.error.message}` : "";
      if (status !== null && status !== run.status) announce(`Run ${run.status.replace("_", " ")}.`);
      status = run.status;
      finished = TERMINAL.has(run.status);
      document.body.dataset.status = run.status;
    }

    function refreshRun() {
      if (loading) {
        again = true;
        return loading;
      }
      loading = (async () => {
        do {
          again = false;
          try {
            showRun(await api(`runs/${encodeURIComponent(runId)}`));
            showLoadError("run", "");
          } catch (e) {
            if (e.status === 404) {
              notFound = true;
              showLoadError("run", `There is no run with id ${runId}.`);
            } else if (e.status !== 401) showLoadError("run", `Could not load the run: ${e.message}`);
          }
        } while (again);
      })().finally(() => {
        loading = null;
      });
      return loading;
    }

    function addEvent(ev, idField) {
      const seq = typeof ev.seq === "number" ? ev.seq : Number(idField);
      if (Number.isFinite(seq)) {
        if (seen.has(seq)) return;
        seen.add(seq);
        lastSeq = lastSeq === null ? seq : Math.max(lastSeq, seq);
      }
      const type = ev.type || "Event";
      const data = ev.data && typeof ev.data === "object" ? ev.data : {};
      const entries = Object.entries(data);
      const item = el(
        "li",
        { class: `event ${eventClass(type)}` },
        el(
          "div",
          { class: "event-head" },
          el("span", { class: "seq", text: Number.isFinite(seq) ? `#${seq}` : "" }),
          " ",
          el("strong", { class: "etype", title: ev.type_key || type, text: type }),
        ),
        entries.length
          ? el(
              "dl",
              { class: "facts" },
              ...entries.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { class: typeof v === "string" ? "" : "json", text: display(v) }))),
            )
          : null,
      );
      if (Number.isFinite(seq)) item.dataset.seq = String(seq);
      // Keep sequence order even if a reconnect replays out of order.
      const after = Array.from(timeline.children).find((li) => Number(li.dataset.seq) > seq);
      timeline.insertBefore(item, after || null);
      timelineEmpty.hidden = true;
    }

    async function stream() {
      let retry = 1000;
      while (!notFound) {
        const u = apiUrl(`runs/${encodeURIComponent(runId)}/events`, { after: lastSeq });
        let ended = false;
        try {
          const res = await fetch(u, { headers: { Accept: "text/event-stream", ...auth.headers() }, cache: "no-store" });
          if (res.status === 401) {
            auth.require();
            await auth.waitForToken();
            continue;
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
            refreshRun();
            requests.refresh();
          }
          ended = true;
        } catch {
          setLive("offline");
        }
        await refreshRun();
        requests.refresh();
        if (finished) {
          setLive("done", "Finished");
          return;
        }
        await new Promise((r) => setTimeout(r, ended ? 1000 : retry));
        if (!ended) retry = Math.min(retry * 2, 30000);
      }
    }

    auth.onToken(() => {
      refreshRun();
      requests.refresh();
    });
    refreshRun();
    requests.refresh();
    stream();
  }

  if (document.body.dataset.page === "run") runPage();
  else inboxPage();
})();
