// StreetShop: draws garments (box + fashion landmarks) over a photo as SVG.
//
// The <svg> sits on top of the <img>; its viewBox is the photo's own size, so every
// coordinate from the API (photo pixels) is used as is. One colour per garment, from a
// fixed palette, so the overlay, the legend and the result sections match.

const SVG_NS = "http://www.w3.org/2000/svg";

/** The fashion landmark slots, in the FLD order. */
export const LANDMARK_SLOTS = [
  "left_collar", "right_collar", "left_sleeve", "right_sleeve",
  "left_waistline", "right_waistline", "left_hem", "right_hem",
];

/** A fixed palette; garment N gets PALETTE[N % length]. */
export const PALETTE = [
  "#e6194b", // red
  "#1e88e5", // blue
  "#2eb84b", // green
  "#f58231", // orange
  "#9c27b0", // purple
  "#00bcd4", // cyan
  "#f032e6", // magenta
  "#c0a000", // ochre
];

export const GARMENT_TYPE_LABELS = { upper: "Top", lower: "Bottom", full: "Full body" };

export function garmentColour(position) {
  const index = Number.isInteger(position) && position >= 0 ? position : 0;
  return PALETTE[index % PALETTE.length];
}

export function garmentTypeLabel(garmentType) {
  return GARMENT_TYPE_LABELS[garmentType] || garmentType || "Garment";
}

/** "left_collar" -> "left collar". */
export function slotLabel(slot) {
  return String(slot).replace(/_/g, " ");
}

/**
 * Draws garments on `svg` (replacing what was there).
 *   garments: [{position, garment_type, box: [x0,y0,x1,y1], landmarks: {slot: {x, y, visibility}}}]
 *   size: {width, height} of the photo in pixels (the viewBox).
 * Landmarks whose visibility is "absent" (or that are missing) are not drawn.
 */
export function drawGarments(svg, garments, size) {
  clear(svg);
  const width = Number(size && size.width) || 0;
  const height = Number(size && size.height) || 0;
  if (width > 0 && height > 0) setViewBox(svg, width, height);
  const scale = Math.max(width, height) || 1000;
  const radius = Math.max(3, scale * 0.011);
  const fontSize = Math.max(10, scale * 0.028);

  (garments || []).forEach((garment, index) => {
    const position = Number.isInteger(garment.position) ? garment.position : index;
    const colour = garmentColour(position);
    const group = svgEl("g", {
      class: "garment",
      "data-position": String(position),
      "data-garment-type": garment.garment_type || "",
      style: `--garment-colour: ${colour}`,
    });
    const kind = garmentTypeLabel(garment.garment_type);
    group.appendChild(svgEl("title", {}, `Garment ${position + 1}: ${kind}`));

    const box = validBox(garment.box);
    if (box) {
      const [x0, y0, x1, y1] = box;
      const rectAttrs = { x: x0, y: y0, width: x1 - x0, height: y1 - y0, "vector-effect": "non-scaling-stroke" };
      group.appendChild(svgEl("rect", { ...rectAttrs, class: "garment-box-halo", "aria-hidden": "true" }));
      group.appendChild(svgEl("rect", { ...rectAttrs, class: "garment-box", stroke: colour }));
      const label = svgEl("text", {
        class: "garment-label",
        x: x0 + fontSize * 0.3,
        y: y0 + fontSize * 1.1,
        "font-size": fontSize,
        fill: colour,
      }, `${position + 1} ${kind}`);
      group.appendChild(label);
    }

    const landmarks = garment.landmarks || {};
    for (const slot of LANDMARK_SLOTS) {
      const point = landmarks[slot];
      if (!point || !isDrawable(point)) continue;
      const visibility = point.visibility === "occluded" ? "occluded" : "visible";
      const circle = svgEl("circle", {
        class: `landmark ${visibility}`,
        "data-slot": slot,
        cx: point.x,
        cy: point.y,
        r: radius,
        stroke: colour,
        fill: visibility === "visible" ? colour : "rgba(255,255,255,0.35)",
        "vector-effect": "non-scaling-stroke",
      });
      circle.appendChild(svgEl("title", {}, `${slotLabel(slot)} (${visibility})`));
      group.appendChild(circle);
    }
    svg.appendChild(group);
  });
}

/** Highlights one garment (others fade); pass null to clear. */
export function highlightGarment(svg, position) {
  if (position === null || position === undefined) {
    delete svg.dataset.active;
  } else {
    svg.dataset.active = String(position);
  }
  for (const group of svg.querySelectorAll("g.garment")) {
    group.classList.toggle("active", group.dataset.position === String(position));
  }
}

/**
 * Fills `container` with a legend: a colour swatch per garment plus the meaning of the marks.
 */
export function drawLegend(container, garments) {
  container.replaceChildren();
  const list = document.createElement("ul");
  list.className = "legend-garments";
  (garments || []).forEach((garment, index) => {
    const position = Number.isInteger(garment.position) ? garment.position : index;
    const item = document.createElement("li");
    item.dataset.position = String(position);
    item.appendChild(swatch(position));
    item.append(` ${position + 1} · ${garmentTypeLabel(garment.garment_type)}`);
    list.appendChild(item);
  });
  if (list.children.length) container.appendChild(list);

  const marks = document.createElement("ul");
  marks.className = "legend-marks";
  marks.append(
    legendMark("visible", "visible landmark"),
    legendMark("occluded", "hidden (occluded) landmark"),
    legendMark("box", "garment box"),
  );
  container.appendChild(marks);
}

/** A small coloured square matching garment `position`'s overlay colour. */
export function swatch(position) {
  const span = document.createElement("span");
  span.className = "swatch";
  span.setAttribute("aria-hidden", "true");
  span.style.backgroundColor = garmentColour(position);
  return span;
}

/** Sets the viewBox from the image's natural size when the server did not know it. */
export function fitToImage(svg, img, onSize) {
  const apply = () => {
    if (!svg.getAttribute("viewBox") && img.naturalWidth && img.naturalHeight) {
      setViewBox(svg, img.naturalWidth, img.naturalHeight);
      if (onSize) onSize({ width: img.naturalWidth, height: img.naturalHeight });
    }
  };
  if (img.complete) apply();
  else img.addEventListener("load", apply, { once: true });
}

// ------------------------------------------------------------------ helpers

function setViewBox(svg, width, height) {
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
}

function clear(svg) {
  for (const child of [...svg.children]) {
    // Keep the accessible name/description that the template put there.
    if (child.tagName === "title" || child.tagName === "desc") continue;
    child.remove();
  }
}

function validBox(box) {
  if (!Array.isArray(box) || box.length !== 4) return null;
  const numbers = box.map(Number);
  if (numbers.some((v) => !Number.isFinite(v))) return null;
  const [x0, y0, x1, y1] = numbers;
  if (x1 <= x0 || y1 <= y0) return null;
  return numbers;
}

function isDrawable(point) {
  if (point.visibility === "absent") return false;
  return Number.isFinite(Number(point.x)) && Number.isFinite(Number(point.y));
}

function legendMark(kind, text) {
  const item = document.createElement("li");
  const svg = svgEl("svg", { viewBox: "0 0 20 20", width: 16, height: 16, "aria-hidden": "true", class: "legend-icon" });
  if (kind === "box") {
    svg.appendChild(svgEl("rect", { x: 3, y: 3, width: 14, height: 14, class: "legend-box" }));
  } else {
    svg.appendChild(svgEl("circle", { cx: 10, cy: 10, r: 6, class: `legend-landmark ${kind}` }));
  }
  item.append(svg, ` ${text}`);
  return item;
}

function svgEl(name, attributes = {}, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}
