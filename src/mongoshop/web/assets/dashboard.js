// The admin dashboard: sign-in, then one panel per admin endpoint of the API.
//
// Every figure and chart comes from the JSON the API answers to this page; nothing
// is computed from a second source. Data is put in the page with textContent and
// attributes only (never parsed as HTML), so no value can become markup.

import { ApiError, call, forgetToken, storeToken, storedToken } from "./api.js";
import { barChart, columnChart } from "./charts.js";
import * as format from "./format.js";
import { webhooksPanel } from "./webhooks.js";

const RECENT_ORDERS = 10;
const SALES_DAYS = 30;
const VIEWS = ["loading", "sign-in", "admins-only", "dashboard"];

const byId = (id) => document.getElementById(id);
let currency = null;

function show(view) {
  for (const id of VIEWS) {
    byId(id).hidden = id !== view;
  }
  byId("session").hidden = view === "sign-in" || view === "loading";
  byId("refresh").hidden = view !== "dashboard";
}

function showSignIn(notice = "") {
  const element = byId("sign-in-notice");
  element.textContent = notice;
  element.hidden = notice === "";
  byId("who").textContent = "";
  show("sign-in");
  byId("email").focus();
}

// 401: the token expired or was revoked, back to the sign-in form; 403: not an admin.
// Anything else is shown in `where` (a panel's error line).
function handle(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    if (error.token !== storedToken()) {
      return; // an answer to a request of an earlier session: nothing to do now
    }
    forgetToken(error.token);
    showSignIn("Your session has ended. Please sign in again.");
    return;
  }
  if (error instanceof ApiError && error.status === 403) {
    show("admins-only");
    return;
  }
  if (!(error instanceof ApiError)) {
    // A bug in this page, not an answer of the API: keep it visible in the console.
    console.error(error);
  }
  where.textContent =
    error instanceof ApiError ? `Could not load: ${error.detail}` : "Could not show this panel.";
  where.hidden = false;
}

function panelError(panelId) {
  return byId(panelId).querySelector(".error");
}

function setFigure(name, text, value = undefined) {
  const element = document.querySelector(`[data-figure="${name}"]`);
  element.textContent = text;
  if (value === undefined) {
    delete element.dataset.value;
  } else {
    element.dataset.value = String(value);
  }
}

function cell(text, className = "") {
  const element = document.createElement("td");
  element.textContent = text;
  if (className) {
    element.className = className;
  }
  return element;
}

function fillTable(table, rows, columns, emptyText) {
  const body = table.tBodies[0];
  if (rows.length === 0) {
    const only = cell(emptyText, "empty");
    only.colSpan = table.tHead.rows[0].cells.length;
    const row = document.createElement("tr");
    row.append(only);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(
    ...rows.map((item) => {
      const row = document.createElement("tr");
      for (const [text, className] of columns(item, row)) {
        row.append(cell(text, className));
      }
      return row;
    }),
  );
}

// --- panels -------------------------------------------------------------------------

// The dashboards' figures are computed now and then, not at each visit: say when.
function showFreshness(panel, computedAt) {
  const line = document.querySelector(`[data-freshness="${panel}"]`);
  if (!computedAt) {
    line.textContent = "";
    return;
  }
  const age = Math.max(0, Math.round((Date.now() - Date.parse(computedAt)) / 1000));
  line.textContent = `Figures as of ${format.dateTime(computedAt)} (${format.duration(age)} ago)`;
  line.dataset.computedAt = computedAt;
}

async function loadUsers() {
  const error = panelError("users-panel");
  error.hidden = true;
  let stats;
  try {
    stats = await call("GET", "/admin/stats/users");
  } catch (failure) {
    handle(failure, error);
    return;
  }
  showFreshness("users", stats.computed_at);
  setFigure("users-total", format.count(stats.total), stats.total);
  setFigure("users-signups", format.count(stats.signups_this_month), stats.signups_this_month);
  barChart(
    byId("users-by-status-chart"),
    "Users by status",
    Object.entries(stats.by_status).map(([status, value]) => ({
      label: status,
      value,
      text: format.count(value),
    })),
  );
  fillTable(
    byId("top-users"),
    stats.top_by_logins,
    (user, row) => {
      row.dataset.userId = user.id;
      return [
        [user.name],
        [user.email],
        [format.count(user.login_count), "number"],
      ];
    },
    "No users yet.",
  );
}

function bucketLabel(bucket) {
  if (bucket.max === null) {
    return `${format.moneyShort(bucket.min, currency)} and more`;
  }
  return `${format.moneyShort(bucket.min, currency)}–${format.moneyShort(bucket.max, currency)}`;
}

async function loadProducts() {
  const error = panelError("products-panel");
  error.hidden = true;
  let stats;
  try {
    stats = await call("GET", "/admin/stats/products");
  } catch (failure) {
    handle(failure, error);
    return;
  }
  showFreshness("products", stats.computed_at);
  const totals = stats.totals;
  setFigure("products-count", format.count(totals.count), totals.count);
  setFigure("products-avg-price", format.money(totals.avg_price, currency), totals.avg_price);
  setFigure("products-inventory", format.count(totals.total_inventory), totals.total_inventory);
  setFigure("products-out-of-stock", format.count(totals.out_of_stock), totals.out_of_stock);
  columnChart(
    byId("price-distribution-chart"),
    "Products by price",
    stats.price_distribution.map((bucket) => ({
      label: bucketLabel(bucket),
      value: bucket.count,
      text: format.count(bucket.count),
    })),
  );
  barChart(
    byId("categories-chart"),
    "Products by category",
    stats.by_category.map((row) => ({
      label: row.category,
      value: row.count,
      text: format.count(row.count),
    })),
    { emptyText: "No products yet" },
  );
}

function salesParams() {
  const from = byId("sales-from").value;
  const to = byId("sales-to").value;
  if (!from || !to) {
    throw new ApiError(422, "validation_error", "choose both days of the period");
  }
  if (to < from) {
    throw new ApiError(422, "validation_error", "the last day is before the first");
  }
  return { start: `${from}T00:00:00Z`, end: `${format.addDays(to, 1)}T00:00:00Z` };
}

async function loadSales() {
  const panel = byId("sales-panel");
  const error = panelError("sales-panel");
  const chart = byId("sales-chart");
  error.hidden = true;
  let params;
  let report;
  try {
    params = salesParams();
    chart.dataset.ready = "false";
    report = await call("GET", "/admin/analytics/sales", { params });
  } catch (failure) {
    handle(failure, error);
    return;
  }
  showFreshness("sales", report.computed_at);
  const summary = report.summary;
  currency = summary.currency;
  setFigure("sales-total", format.money(summary.total_sales, currency), summary.total_sales);
  setFigure("sales-orders", format.count(summary.orders_count), summary.orders_count);
  setFigure("sales-items", format.count(summary.total_items), summary.total_items);
  setFigure("sales-categories", format.count(summary.categories_count), summary.categories_count);
  fillTable(
    byId("sales-table"),
    report.by_category,
    (row, tr) => {
      tr.dataset.category = row.category;
      return [
        [row.category],
        [format.money(row.total_sales, currency), "number"],
        [format.count(row.total_items), "number"],
        [format.count(row.orders_count), "number"],
        [format.count(row.unique_products_count), "number"],
        [format.money(row.avg_order_value, currency), "number"],
      ];
    },
    "No completed orders in this period.",
  );
  barChart(
    chart,
    "Sales by category",
    report.by_category.map((row) => ({
      label: row.category,
      value: row.total_sales,
      text: format.money(row.total_sales, currency),
    })),
    { emptyText: "No sales in this period" },
  );
  // What was drawn, so a reader (or a test) knows which period the figures are for.
  panel.dataset.start = params.start;
  panel.dataset.end = params.end;
}

async function loadOrders() {
  const error = panelError("orders-panel");
  const table = byId("recent-orders");
  error.hidden = true;
  table.dataset.ready = "false";
  let orders;
  try {
    orders = await call("GET", "/admin/orders/recent", { params: { limit: RECENT_ORDERS } });
  } catch (failure) {
    handle(failure, error);
    return;
  }
  fillTable(
    table,
    orders,
    ({ order, buyer }, row) => {
      row.dataset.orderId = order.id;
      const items = order.items.reduce((sum, item) => sum + item.quantity, 0);
      const who = buyer === null ? "(deleted account)" : `${buyer.name} <${buyer.email}>`;
      return [
        [format.dateTime(order.created_at)],
        [order.id, "mono"],
        [who],
        [format.count(items), "number"],
        [format.money(order.total.amount, order.total.currency), "number"],
        [order.status, `status status-${order.status}`],
      ];
    },
    "No orders yet.",
  );
  table.dataset.ready = "true";
}

async function loadOutbox() {
  const error = panelError("outbox-panel");
  const figures = byId("outbox-figures");
  error.hidden = true;
  figures.dataset.ready = "false";
  let stats;
  try {
    stats = await call("GET", "/admin/outbox/stats");
  } catch (failure) {
    handle(failure, error);
    return;
  }
  setFigure("outbox-pending", format.count(stats.pending), stats.pending);
  setFigure("outbox-sent", format.count(stats.sent), stats.sent);
  setFigure("outbox-failed", format.count(stats.failed), stats.failed);
  if (stats.oldest_pending_age_seconds === null) {
    setFigure("outbox-oldest", "none waiting");
  } else {
    setFigure(
      "outbox-oldest",
      `${format.duration(stats.oldest_pending_age_seconds)} ago`,
      stats.oldest_pending_age_seconds,
    );
  }
  figures.dataset.ready = "true";
}

async function loadDashboard() {
  const dashboard = byId("dashboard");
  dashboard.dataset.ready = "false";
  // Prices are shown in the shop's currency, which the sales report names.
  await Promise.all([
    loadUsers(),
    loadOrders(),
    loadOutbox(),
    loadWebhooks(),
    loadSales().then(loadProducts),
  ]);
  dashboard.dataset.ready = "true";
}

const loadWebhooks = webhooksPanel(handle);

// --- session ------------------------------------------------------------------------

async function enter() {
  show("loading");
  let me;
  try {
    me = await call("GET", "/users/me");
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      forgetToken(failure.token);
      showSignIn("Your session has ended. Please sign in again.");
    } else {
      showSignIn(failure instanceof ApiError ? failure.detail : "Something went wrong.");
    }
    return;
  }
  byId("who").textContent = `${me.name} <${me.email}>`;
  if (!me.roles.includes("admin")) {
    show("admins-only");
    return;
  }
  show("dashboard");
  await loadDashboard();
}

async function signIn(event) {
  event.preventDefault();
  const error = byId("sign-in-error");
  const button = byId("sign-in-button");
  const email = byId("email").value.trim();
  const password = byId("password").value;
  error.hidden = true;
  if (!email || !password) {
    error.textContent = "Enter your e-mail and password.";
    error.hidden = false;
    return;
  }
  button.disabled = true;
  try {
    const issued = await call("POST", "/auth/login", {
      body: { email, password },
      signedIn: false,
    });
    storeToken(issued.access_token);
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      error.textContent = "Wrong e-mail or password.";
    } else if (failure instanceof ApiError && failure.status === 422) {
      error.textContent = "Enter a valid e-mail address and your password.";
    } else {
      error.textContent = failure instanceof ApiError ? failure.detail : "Sign-in failed.";
    }
    error.hidden = false;
    return;
  } finally {
    button.disabled = false;
  }
  byId("sign-in-form").reset();
  await enter();
}

async function signOut() {
  if (storedToken()) {
    try {
      await call("POST", "/auth/logout");
    } catch {
      // Already invalid: nothing more to revoke.
    }
  }
  forgetToken();
  showSignIn();
}

function start() {
  byId("sign-in-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", signOut);
  byId("admins-only-sign-out").addEventListener("click", signOut);
  byId("refresh").addEventListener("click", loadDashboard);
  byId("sales-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadSales();
  });
  const today = format.todayUtc();
  byId("sales-from").value = format.addDays(today, -(SALES_DAYS - 1));
  byId("sales-to").value = today;
  if (storedToken()) {
    enter();
  } else {
    showSignIn();
  }
}

start();
