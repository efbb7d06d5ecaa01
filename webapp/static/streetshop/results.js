// StreetShop results page: polls the search until it is done, draws the garments over the
// photo, lists each garment's matching products, re-ranks them with the filter form (GET with
// params, no reload, no new upload) and shows "more like this" per product.
//
// The product-card helpers below are also used by product.js.

import {
  drawGarments, drawLegend, fitToImage, garmentColour, garmentTypeLabel, highlightGarment, swatch,
} from "./overlay.js";

const POLL_MS = 700;
const SLOW_POLL_MS = 3000;
const SLOW_AFTER_MS = 2 * 60 * 1000;
const FILTER_KEYS = ["category", "min_price", "max_price"];
const NO_GARMENTS = "No garment found — try a photo where the clothes are clearly visible";

// ------------------------------------------------------------------ shared helpers (exported)

/** GET a JSON document; throws an Error whose message can be shown to the shopper. */
export async function getJSON(url, { signal } = {}) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Error("Could not reach StreetShop. Check your connection and try again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && (data.error || data.detail);
    const error = new Error(message || `The server answered ${response.status}. Please try again.`);
    error.status = response.status;
    throw error;
  }
  return data;
}

/** "49.90" + "EUR" -> "49.90 EUR"; null -> "". */
export function formatPrice(price, currency) {
  if (price === null || price === undefined || price === "") return "";
  return currency ? `${price} ${currency}` : String(price);
}

/** 0.873 -> "87%". */
export function formatPercent(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "";
  return `${Math.round(Math.min(1, Math.max(0, number)) * 100)}%`;
}

/** Only http(s) links leave the site. */
export function safeExternalUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

export function productPageUrl(productId) {
  return `/products/${encodeURIComponent(productId)}/`;
}

/**
 * A product card: thumbnail, title, brand, price, similarity, links.
 *   row: {product: {...}, image_id, similarity}
 *   options.onMoreLikeThis(product): adds a "More like this" button when given.
 */
export function productCard(row, { onMoreLikeThis } = {}) {
  const product = row.product || {};
  const card = el("article", { class: "product-card" });
  card.dataset.productId = String(product.id);
  if (row.image_id !== undefined && row.image_id !== null) card.dataset.imageId = String(row.image_id);

  const link = el("a", { class: "product-link", href: productPageUrl(product.id) });
  if (product.thumbnail) {
    const img = el("img", { class: "product-thumb", src: product.thumbnail, alt: "", loading: "lazy", decoding: "async" });
    link.appendChild(img);
  } else {
    link.appendChild(el("div", { class: "product-thumb placeholder", "aria-hidden": "true" }, "No image"));
  }
  link.appendChild(el("h3", { class: "product-title" }, product.title || product.sku || "Product"));
  card.appendChild(link);

  if (product.brand) card.appendChild(el("p", { class: "product-brand" }, product.brand));
  const meta = el("p", { class: "product-meta" });
  const price = formatPrice(product.price, product.currency);
  meta.appendChild(el("span", { class: "product-price" }, price || "Price on request"));
  if (row.similarity !== undefined && row.similarity !== null) {
    const percent = formatPercent(row.similarity);
    const similarity = el("span", { class: "product-similarity", title: "How similar it looks" }, `${percent} match`);
    similarity.dataset.similarity = String(row.similarity);
    meta.appendChild(similarity);
  }
  card.appendChild(meta);

  const actions = el("div", { class: "product-actions" });
  const shopUrl = safeExternalUrl(product.product_url);
  if (shopUrl) {
    const shop = el("a", { class: "button small shop-link", href: shopUrl, target: "_blank", rel: "noopener noreferrer" }, "Shop");
    shop.setAttribute("aria-label", `Shop ${product.title || "this product"} (opens the shop in a new tab)`);
    actions.appendChild(shop);
  }
  if (onMoreLikeThis) {
    const more = el("button", { type: "button", class: "button small secondary more-like-this" }, "More like this");
    more.setAttribute("aria-label", `More like ${product.title || "this product"}`);
    more.addEventListener("click", () => onMoreLikeThis(product, more));
    actions.appendChild(more);
  }
  if (actions.children.length) card.appendChild(actions);
  return card;
}

/** Fills `list` with cards, or a friendly note when `rows` is empty. */
export function renderCards(list, rows, options = {}) {
  list.replaceChildren();
  if (!rows || rows.length === 0) {
    list.removeAttribute("role");
    list.appendChild(el("p", { class: "empty-note" }, options.emptyText || "No matching products."));
    return;
  }
  list.setAttribute("role", "list");
  for (const row of rows) {
    const card = productCard(row, options);
    card.setAttribute("role", "listitem");
    list.appendChild(card);
  }
}

/** Creates an element with attributes and optional text (never HTML). */
export function el(name, attributes = {}, text) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------ the results page

const root = document.getElementById("results-page");
if (root) new ResultsPage(root).start();

function ResultsPage(rootElement) {
  const apiUrl = rootElement.dataset.apiUrl;
  const status = document.getElementById("search-status");
  const statusText = document.getElementById("search-status-text");
  const errorBox = document.getElementById("search-error");
  const svg = document.getElementById("overlay");
  const photo = document.getElementById("search-photo");
  const legend = document.getElementById("overlay-legend");
  const garmentsBox = document.getElementById("garments");
  const noGarments = document.getElementById("no-garments");
  const filterForm = document.getElementById("filter-form");
  const filterStatus = document.getElementById("filter-status");
  const filterError = document.getElementById("filter-error");
  const toggle = document.getElementById("toggle-landmarks");

  let size = { width: Number(rootElement.dataset.width) || 0, height: Number(rootElement.dataset.height) || 0 };
  let filters = filtersFromLocation();
  let search = null;
  let pollStarted = 0;
  let pollFailures = 0;
  let requestNumber = 0;
  /** position -> {product} while a garment's list shows "more like this". */
  const similarOf = new Map();
  /** position -> number of the latest list request, so a late answer never overwrites a newer one. */
  const listRequests = new Map();

  this.start = () => {
    if (!size.width || !size.height) {
      fitToImage(svg, photo, (natural) => {
        size = natural;
        if (search) drawGarments(svg, search.garments || [], size);
      });
    }
    if (toggle) {
      toggle.addEventListener("change", () => svg.classList.toggle("hidden-marks", !toggle.checked));
    }
    if (filterForm) {
      fillForm(filterForm, filters);
      filterForm.addEventListener("submit", onFilter);
      filterForm.addEventListener("reset", onReset);
    }
    pollStarted = Date.now();
    poll();
  };

  // -------------------------------------------------------------- polling

  async function poll() {
    let data;
    try {
      data = await getJSON(searchUrl(filters));
    } catch (error) {
      if (error.status === 404) {
        showStatus("failed", "This search no longer exists.");
        showError("This search no longer exists (searches are kept for a limited time). Please upload the photo again.");
        return;
      }
      if (error.status === 400 && hasFilters(filters)) {
        // A bad filter in the address: show it, then carry on without filters.
        showFilterError(error.message);
        filters = {};
        fillForm(filterForm, filters);
        return schedule(0);
      }
      pollFailures += 1;
      showStatus(status.dataset.status || "queued", `Connection problem, retrying… (${error.message})`);
      return schedule(Math.min(10000, POLL_MS * 2 ** pollFailures));
    }
    pollFailures = 0;
    if (data.status === "done" || data.status === "failed") {
      render(data);
      return;
    }
    showStatus(data.status, progressText(data.status));
    const slow = Date.now() - pollStarted > SLOW_AFTER_MS;
    schedule(slow ? SLOW_POLL_MS : POLL_MS);
  }

  function schedule(ms) {
    window.setTimeout(poll, ms);
  }

  function progressText(state) {
    if (state === "running") return "Finding garments… (analysing your photo)";
    return "Finding garments… (queued, waiting for a free worker)";
  }

  // -------------------------------------------------------------- rendering

  function render(data) {
    search = data;
    if (data.width && data.height) size = { width: data.width, height: data.height };
    if (data.status === "failed") {
      showStatus("failed", "Search failed");
      showError(data.error || "The search failed. Please try another photo.");
      return;
    }
    const garments = data.garments || [];
    drawGarments(svg, garments, size);
    drawLegend(legend, garments);
    const count = garments.length;
    showStatus("done", count === 1 ? "Found 1 garment" : `Found ${count} garments`);
    if (count === 0) {
      noGarments.textContent = NO_GARMENTS;
      noGarments.hidden = false;
      garmentsBox.replaceChildren();
      if (filterForm) filterForm.hidden = true;
      return;
    }
    noGarments.hidden = true;
    if (filterForm) filterForm.hidden = false;
    renderGarments(garments);
  }

  function renderGarments(garments) {
    // Keep the sections (and focus) when only the lists change.
    const existing = new Map([...garmentsBox.querySelectorAll(".garment-section")].map((s) => [s.dataset.position, s]));
    const sections = garments.map((garment, index) => {
      const position = Number.isInteger(garment.position) ? garment.position : index;
      let section = existing.get(String(position));
      if (!section) section = garmentSection(garment, position);
      else updateGarmentHeader(section, garment);
      const list = section.querySelector(".results");
      if (similarOf.has(position)) {
        showSimilar(section, similarOf.get(position), { focus: false });
      } else {
        renderMatches(section, list, garment);
      }
      return section;
    });
    garmentsBox.replaceChildren(...sections);
  }

  function garmentSection(garment, position) {
    const colour = garmentColour(position);
    const section = el("section", { class: "garment-section", "aria-labelledby": `garment-heading-${position}` });
    section.dataset.position = String(position);
    section.style.setProperty("--garment-colour", colour);

    const header = el("header", { class: "garment-header" });
    const heading = el("h2", { id: `garment-heading-${position}`, class: "garment-heading" });
    heading.append(swatch(position), el("span", { class: "garment-name" }));
    header.appendChild(heading);
    header.appendChild(el("p", { class: "garment-category" }));
    header.appendChild(el("ul", { class: "attributes", "aria-label": "Likely attributes" }));
    section.appendChild(header);

    const bar = el("div", { class: "similar-bar", hidden: "" });
    bar.appendChild(el("p", { class: "similar-title" }));
    const back = el("button", { type: "button", class: "button small secondary back-to-results" }, "Back to matches");
    back.addEventListener("click", () => showMatches(section));
    bar.appendChild(back);
    section.appendChild(bar);

    const list = el("div", { class: "results" });
    list.dataset.position = String(position);
    list.setAttribute("aria-live", "polite");
    section.appendChild(list);

    section.addEventListener("mouseenter", () => highlightGarment(svg, position));
    section.addEventListener("mouseleave", () => highlightGarment(svg, null));
    section.addEventListener("focusin", () => highlightGarment(svg, position));
    section.addEventListener("focusout", (event) => {
      if (!section.contains(event.relatedTarget)) highlightGarment(svg, null);
    });
    updateGarmentHeader(section, garment);
    return section;
  }

  function updateGarmentHeader(section, garment) {
    const position = Number(section.dataset.position);
    section.querySelector(".garment-name").textContent = `Garment ${position + 1} · ${garmentTypeLabel(garment.garment_type)}`;
    const category = section.querySelector(".garment-category");
    if (garment.category) {
      const score = garment.category_scores && garment.category_scores[garment.category];
      category.textContent = `Looks like: ${garment.category}${score !== undefined ? ` (${formatPercent(score)})` : ""}`;
      category.hidden = false;
    } else {
      category.hidden = true;
    }
    const attributes = section.querySelector(".attributes");
    attributes.replaceChildren();
    for (const attribute of (garment.attributes || []).slice(0, 6)) {
      const chip = el("li", { class: "chip" }, attribute.name);
      if (attribute.score !== undefined) chip.title = `${formatPercent(attribute.score)} likely`;
      attributes.appendChild(chip);
    }
    attributes.hidden = attributes.children.length === 0;
  }

  function nextListRequest(position) {
    const token = (listRequests.get(position) || 0) + 1;
    listRequests.set(position, token);
    return token;
  }

  function renderMatches(section, list, garment) {
    section.querySelector(".similar-bar").hidden = true;
    section.classList.remove("showing-similar");
    list.dataset.mode = "matches";
    renderCards(list, garment.results || [], {
      onMoreLikeThis: (product) => showSimilar(section, product, { focus: true }),
      emptyText: hasFilters(filters)
        ? "No products match these filters. Try a wider price range or another category."
        : "No matching products in the catalog yet.",
    });
  }

  async function showSimilar(section, product, { focus }) {
    const position = Number(section.dataset.position);
    const token = nextListRequest(position);
    similarOf.set(position, product);
    const list = section.querySelector(".results");
    const bar = section.querySelector(".similar-bar");
    bar.querySelector(".similar-title").textContent = `More like “${product.title || product.sku}”`;
    bar.hidden = false;
    section.classList.add("showing-similar");
    list.dataset.mode = "similar";
    list.dataset.similarTo = String(product.id);
    list.setAttribute("aria-busy", "true");
    list.replaceChildren(el("p", { class: "loading-note" }, "Finding similar products…"));
    try {
      const query = filterQuery(filters);
      const rows = await getJSON(`/api/v1/products/${encodeURIComponent(product.id)}/similar${query}`);
      if (listRequests.get(position) !== token) return; // the shopper moved on
      renderCards(list, rows, {
        onMoreLikeThis: (next) => showSimilar(section, next, { focus: true }),
        emptyText: "No similar products found.",
      });
    } catch (error) {
      if (listRequests.get(position) !== token) return;
      list.replaceChildren(el("p", { class: "error-note", role: "alert" }, error.message));
    } finally {
      if (listRequests.get(position) === token) list.removeAttribute("aria-busy");
    }
    if (focus && listRequests.get(position) === token) bar.querySelector(".back-to-results").focus({ preventScroll: false });
  }

  function showMatches(section) {
    const position = Number(section.dataset.position);
    nextListRequest(position);
    similarOf.delete(position);
    if (!search) return;
    const garment = (search.garments || []).find((g, i) => (Number.isInteger(g.position) ? g.position : i) === position);
    const list = section.querySelector(".results");
    delete list.dataset.similarTo;
    renderMatches(section, list, garment || { results: [] });
    const firstLink = list.querySelector("a");
    if (firstLink) firstLink.focus();
  }

  // -------------------------------------------------------------- filters

  async function onFilter(event) {
    event.preventDefault();
    hideFilterError();
    const wanted = readForm(filterForm);
    if (wanted.min_price && wanted.max_price && Number(wanted.min_price) > Number(wanted.max_price)) {
      showFilterError("The minimum price is higher than the maximum price.");
      return;
    }
    await applyFilters(wanted);
  }

  async function onReset() {
    // form.reset() has restored the search's own filters; go back to its stored results.
    hideFilterError();
    await applyFilters({});
  }

  async function applyFilters(wanted) {
    if (!search || search.status !== "done") return;
    const number = ++requestNumber;
    const button = filterForm.querySelector("button[type=submit]");
    garmentsBox.setAttribute("aria-busy", "true");
    if (button) button.disabled = true;
    filterStatus.textContent = "Updating results…";
    try {
      const data = await getJSON(searchUrl(wanted));
      if (number !== requestNumber) return; // a newer request has been sent
      filters = wanted;
      rememberFilters(filters);
      render(data);
      const total = (data.garments || []).reduce((sum, g) => sum + (g.results || []).length, 0);
      filterStatus.textContent = total === 1 ? "Showing 1 product." : `Showing ${total} products.`;
    } catch (error) {
      if (number !== requestNumber) return;
      filterStatus.textContent = "";
      showFilterError(error.message);
    } finally {
      if (number === requestNumber) {
        garmentsBox.removeAttribute("aria-busy");
        if (button) button.disabled = false;
      }
    }
  }

  function searchUrl(wanted) {
    return `${apiUrl}${filterQuery(wanted)}`;
  }

  // -------------------------------------------------------------- small bits

  function showStatus(state, text) {
    status.dataset.status = state;
    statusText.textContent = text;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function showFilterError(message) {
    filterError.textContent = message;
    filterError.hidden = false;
  }

  function hideFilterError() {
    filterError.textContent = "";
    filterError.hidden = true;
  }
}

function hasFilters(filters) {
  return FILTER_KEYS.some((key) => filters && filters[key]);
}

/** {category, min_price, max_price} -> "?category=..&.." (empty values left out). */
export function filterQuery(filters) {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const value = filters && filters[key];
    if (value !== undefined && value !== null && String(value).trim() !== "") params.set(key, String(value).trim());
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}

function filtersFromLocation() {
  const params = new URLSearchParams(window.location.search);
  const filters = {};
  for (const key of FILTER_KEYS) if (params.get(key)) filters[key] = params.get(key);
  return filters;
}

function rememberFilters(filters) {
  const url = new URL(window.location.href);
  for (const key of FILTER_KEYS) url.searchParams.delete(key);
  for (const key of FILTER_KEYS) if (filters[key]) url.searchParams.set(key, filters[key]);
  window.history.replaceState(null, "", url);
}

function readForm(form) {
  const data = new FormData(form);
  const filters = {};
  for (const key of FILTER_KEYS) {
    const value = (data.get(key) || "").toString().trim();
    if (value) filters[key] = value;
  }
  return filters;
}

/** Puts filters from the address into the form; without any, the form keeps the search's own. */
function fillForm(form, filters) {
  if (!form || !hasFilters(filters)) return;
  for (const key of FILTER_KEYS) {
    const field = form.elements.namedItem(key);
    if (field) field.value = filters[key] || "";
  }
}
