// The webhooks panel: subscriptions (add, pause, resume, delete), the deliveries that
// died (redrive), and one subscription's deliveries with every attempt.
//
// As the rest of the page: values go in with textContent only, never as markup.

import { call } from "./api.js";
import * as format from "./format.js";

// The event types a subscription may want (mongoshop.models.webhooks.EventType; a unit
// test keeps the two lists the same).
export const EVENT_TYPES = [
  "order.placed",
  "order.cancelled",
  "user.registered",
  "product.out_of_stock",
  "product.restocked",
  "wallet.credited",
];
const DEAD_SHOWN = 20;
const DELIVERIES_SHOWN = 20;

const byId = (id) => document.getElementById(id);

function cell(text, className = "") {
  const element = document.createElement("td");
  element.textContent = text;
  if (className) {
    element.className = className;
  }
  return element;
}

function button(label, onClick, className = "secondary") {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.className = className;
  element.addEventListener("click", onClick);
  return element;
}

function emptyRow(table, text) {
  const only = cell(text, "empty");
  only.colSpan = table.tHead.rows[0].cells.length;
  const row = document.createElement("tr");
  row.append(only);
  return row;
}

function attemptText(attempt) {
  const answer = attempt.status_code === null ? "no answer" : `HTTP ${attempt.status_code}`;
  const error = attempt.error && attempt.status_code === null ? `: ${attempt.error}` : "";
  return `${answer}, ${attempt.duration_ms} ms${error}`;
}

export function webhooksPanel(handle) {
  const panel = byId("webhooks-panel");
  const error = panel.querySelector(".error");

  // An action's failure is shown in the panel, then the panel is drawn again.
  async function act(run) {
    error.hidden = true;
    try {
      await run();
    } catch (failure) {
      handle(failure, error);
      return;
    }
    await load();
  }

  function setFigure(name, value) {
    const element = panel.querySelector(`[data-figure="${name}"]`);
    element.textContent = format.count(value);
    element.dataset.value = String(value);
  }

  async function showDeliveries(subscription) {
    const table = byId("webhook-deliveries");
    const title = byId("webhook-deliveries-title");
    table.dataset.ready = "false";
    const page = await call("GET", `/admin/webhooks/${subscription.id}/deliveries`, {
      params: { limit: DELIVERIES_SHOWN },
    });
    title.textContent = `Latest deliveries to ${subscription.url}`;
    title.hidden = false;
    table.hidden = false;
    const rows = page.items.map((delivery) => {
      const row = document.createElement("tr");
      row.dataset.deliveryId = delivery.id;
      const attempts = delivery.history.map(attemptText).join("; ") || "not tried yet";
      row.append(
        cell(format.dateTime(delivery.created_at)),
        cell(delivery.event_type, "mono"),
        cell(delivery.status, `status status-${delivery.status}`),
        cell(attempts),
      );
      return row;
    });
    table.tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(table, "No deliveries yet.")]));
    table.dataset.ready = "true";
  }

  function subscriptionRow(subscription) {
    const row = document.createElement("tr");
    row.dataset.subscriptionId = subscription.id;
    const status =
      subscription.paused_reason === null
        ? subscription.status
        : `${subscription.status}: ${subscription.paused_reason}`;
    const actions = cell("", "actions");
    const paused = subscription.status === "paused";
    actions.append(
      button(paused ? "Resume" : "Pause", () =>
        act(() =>
          call("PATCH", `/admin/webhooks/${subscription.id}`, {
            body: { status: paused ? "active" : "paused" },
          }),
        ),
      ),
      button("Deliveries", () => act(() => showDeliveries(subscription))),
      button("Redrive dead", () =>
        act(() => call("POST", `/admin/webhooks/${subscription.id}/redrive`)),
      ),
      button("Delete", () => {
        if (window.confirm(`Delete the subscription of ${subscription.url}?`)) {
          act(() => call("DELETE", `/admin/webhooks/${subscription.id}`));
        }
      }),
    );
    row.append(
      cell(subscription.url, "mono"),
      cell(subscription.event_types.join(", ")),
      cell(status, `status status-${subscription.status}`),
      cell(format.count(subscription.consecutive_dead), "number"),
      actions,
    );
    return row;
  }

  function deadRow(delivery, urls) {
    const row = document.createElement("tr");
    row.dataset.deliveryId = delivery.id;
    const redrive = cell("", "actions");
    redrive.append(
      button("Redrive", () =>
        act(() => call("POST", `/admin/webhooks/deliveries/${delivery.id}/redrive`)),
      ),
    );
    row.append(
      cell(format.dateTime(delivery.finished_at ?? delivery.created_at)),
      cell(delivery.event_type, "mono"),
      cell(urls.get(delivery.subscription_id) ?? delivery.subscription_id, "mono"),
      cell(format.count(delivery.attempts), "number"),
      cell(delivery.last_error ?? ""),
      redrive,
    );
    return row;
  }

  async function load() {
    const figures = byId("webhook-figures");
    const subscriptionsTable = byId("webhook-subscriptions");
    const deadTable = byId("webhook-dead");
    figures.dataset.ready = "false";
    subscriptionsTable.dataset.ready = "false";
    deadTable.dataset.ready = "false";
    error.hidden = true;
    let stats, subscriptions, dead;
    try {
      [stats, subscriptions, dead] = await Promise.all([
        call("GET", "/admin/webhooks/stats"),
        call("GET", "/admin/webhooks"),
        call("GET", "/admin/webhooks/deliveries/dead", { params: { limit: DEAD_SHOWN } }),
      ]);
    } catch (failure) {
      handle(failure, error);
      return;
    }
    setFigure("webhooks-pending", stats.pending);
    setFigure("webhooks-held", stats.held);
    setFigure("webhooks-dead", stats.dead);
    setFigure("webhooks-paused", stats.paused_subscriptions);
    figures.dataset.ready = "true";

    const alert = byId("webhooks-paused-alert");
    const auto = subscriptions.filter(
      (s) => s.status === "paused" && s.paused_reason?.startsWith("paused automatically"),
    );
    alert.textContent = auto.length
      ? `${auto.length} endpoint(s) paused after failing: ${auto.map((s) => s.url).join(", ")}.` +
        " Fix the receiver, then resume."
      : "";
    alert.hidden = auto.length === 0;

    const body = subscriptionsTable.tBodies[0];
    body.replaceChildren(
      ...(subscriptions.length
        ? subscriptions.map(subscriptionRow)
        : [emptyRow(subscriptionsTable, "No subscriptions.")]),
    );
    subscriptionsTable.dataset.ready = "true";

    const urls = new Map(subscriptions.map((s) => [s.id, s.url]));
    deadTable.tBodies[0].replaceChildren(
      ...(dead.length ? dead.map((d) => deadRow(d, urls)) : [emptyRow(deadTable, "None.")]),
    );
    deadTable.dataset.ready = "true";
  }

  async function add(event) {
    event.preventDefault();
    const formError = byId("webhook-form-error");
    const secret = byId("webhook-secret");
    formError.hidden = true;
    secret.hidden = true;
    const url = byId("webhook-url").value.trim();
    const types = [...byId("webhook-events").querySelectorAll("input:checked")].map(
      (input) => input.value,
    );
    let created;
    try {
      created = await call("POST", "/admin/webhooks", { body: { url, event_types: types } });
    } catch (failure) {
      handle(failure, formError);
      formError.textContent = failure.detail ?? formError.textContent;
      return;
    }
    byId("webhook-form").reset();
    byId("webhook-secret-value").textContent = created.secret;
    secret.hidden = false;
    await load();
  }

  const fieldset = byId("webhook-events");
  for (const type of EVENT_TYPES) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = type;
    input.name = "event_types";
    label.append(input, ` ${type}`);
    fieldset.append(label);
  }
  byId("webhook-form").addEventListener("submit", add);
  return load;
}
