// StreetShop product page: draws each image's detected garment and landmarks, and loads
// "Similar products" from the API.

import { drawGarments, fitToImage } from "./overlay.js";
import { getJSON, renderCards } from "./results.js";

const root = document.getElementById("product-page");
if (root) setUp(root);

function setUp(rootElement) {
  for (const figure of rootElement.querySelectorAll(".product-figure")) drawFigure(figure);

  const toggle = document.getElementById("toggle-landmarks");
  if (toggle) {
    toggle.addEventListener("change", () => {
      for (const svg of rootElement.querySelectorAll("svg.overlay")) svg.classList.toggle("hidden-marks", !toggle.checked);
    });
  }
  loadSimilar(rootElement.dataset.similarUrl);
}

function drawFigure(figure) {
  const svg = figure.querySelector("svg.overlay");
  const img = figure.querySelector("img");
  const script = figure.querySelector("script[type='application/json']");
  if (!svg || !img || !script) return;
  let garment;
  try {
    garment = JSON.parse(script.textContent);
  } catch {
    return;
  }
  if (!garment || (!garment.box && !garment.landmarks)) return;
  const garments = [{ ...garment, position: 0 }];
  const width = Number(figure.dataset.width);
  const height = Number(figure.dataset.height);
  if (width > 0 && height > 0) {
    drawGarments(svg, garments, { width, height });
  } else {
    fitToImage(svg, img, (size) => drawGarments(svg, garments, size));
  }
}

async function loadSimilar(url) {
  const list = document.getElementById("similar-list");
  const note = document.getElementById("similar-status");
  if (!list || !url) return;
  list.setAttribute("aria-busy", "true");
  try {
    const rows = await getJSON(url);
    renderCards(list, rows, { emptyText: "No similar products yet." });
    if (note) note.textContent = rows.length === 1 ? "1 similar product" : rows.length ? `${rows.length} similar products` : "";
  } catch (error) {
    list.replaceChildren();
    const message = document.createElement("p");
    message.className = "error-note";
    message.setAttribute("role", "alert");
    message.textContent = error.message;
    list.appendChild(message);
    if (note) note.textContent = "";
  } finally {
    list.removeAttribute("aria-busy");
  }
}
