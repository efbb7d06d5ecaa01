// StreetShop upload page: pick, drop, paste or shoot a photo, preview it, POST it to the API
// and open the results page the API names.

const ACCEPTED_TYPES = ["image/jpeg", "image/png", "image/webp"];

const form = document.getElementById("search-form");
if (form) setUp(form);

function setUp(form) {
  const photoInput = document.getElementById("photo-input");
  const cameraInput = document.getElementById("camera-input");
  const dropZone = document.getElementById("drop-zone");
  const preview = document.getElementById("photo-preview");
  const previewBox = document.getElementById("preview-box");
  const fileName = document.getElementById("photo-name");
  const clearButton = document.getElementById("clear-photo");
  const button = document.getElementById("search-button");
  const progress = document.getElementById("upload-progress");
  const alertBox = document.getElementById("upload-error");
  const apiUrl = form.dataset.apiUrl || "/api/v1/searches";

  let chosen = null;
  let previewUrl = null;
  let busy = false;

  photoInput.addEventListener("change", () => choose(photoInput.files && photoInput.files[0]));
  if (cameraInput) cameraInput.addEventListener("change", () => choose(cameraInput.files && cameraInput.files[0]));
  if (clearButton) clearButton.addEventListener("click", () => { reset(); photoInput.focus(); });

  // Drag and drop on the zone (and a drop anywhere else must not open the file in the tab).
  for (const type of ["dragenter", "dragover"]) {
    dropZone.addEventListener(type, (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      dropZone.classList.add("dragging");
    });
  }
  dropZone.addEventListener("dragleave", (event) => {
    if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove("dragging");
  });
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragging");
    const file = event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) choose(file, event.dataTransfer.files);
  });
  window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
  window.addEventListener("drop", (event) => { if (hasFiles(event)) event.preventDefault(); });

  // Pasting an image (e.g. a screenshot) works too.
  document.addEventListener("paste", (event) => {
    const items = event.clipboardData ? [...event.clipboardData.files] : [];
    const image = items.find((file) => file.type.startsWith("image/"));
    if (image) choose(image);
  });

  // Coming back with the Back button (page cache): the form must be usable again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      setBusy(false);
      progress.textContent = chosen ? "Photo ready. Press Search to find its garments." : "";
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    hideError();
    if (!chosen) {
      showError("Choose a photo first (JPEG, PNG or WebP).");
      photoInput.focus();
      return;
    }
    const minPrice = form.elements.namedItem("min_price").value.trim();
    const maxPrice = form.elements.namedItem("max_price").value.trim();
    if (minPrice && maxPrice && Number(minPrice) > Number(maxPrice)) {
      showError("The minimum price is higher than the maximum price.");
      return;
    }
    const data = new FormData();
    data.append("image", chosen, chosen.name || "photo.jpg");
    const category = form.elements.namedItem("category").value;
    if (category) data.append("category", category);
    if (minPrice) data.append("min_price", minPrice);
    if (maxPrice) data.append("max_price", maxPrice);
    await submit(data);
  });

  function choose(file, fileList) {
    hideError();
    if (!file) return;
    if (file.type && !ACCEPTED_TYPES.includes(file.type)) {
      showError(`“${file.name}” is not a JPEG, PNG or WebP photo. Please choose another file.`);
      return;
    }
    chosen = file;
    // Keep the main input in step with a dropped file, so the form shows what will be sent.
    if (fileList && fileList !== photoInput.files) {
      try { photoInput.files = fileList; } catch { /* old browsers: the chosen file is kept in JS */ }
    }
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    preview.alt = `Preview of ${file.name || "your photo"}`;
    previewBox.hidden = false;
    dropZone.classList.add("has-photo");
    if (fileName) fileName.textContent = `${file.name || "Photo"} · ${formatSize(file.size)}`;
    progress.textContent = "Photo ready. Press Search to find its garments.";
  }

  function reset() {
    chosen = null;
    photoInput.value = "";
    if (cameraInput) cameraInput.value = "";
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.removeAttribute("src");
    previewBox.hidden = true;
    dropZone.classList.remove("has-photo");
    progress.textContent = "";
  }

  async function submit(data) {
    setBusy(true);
    progress.textContent = "Uploading your photo…";
    let response;
    try {
      response = await fetch(apiUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
      });
    } catch {
      setBusy(false);
      progress.textContent = "";
      showError("Could not reach StreetShop. Check your connection and try again.");
      return;
    }
    progress.textContent = "Photo received, starting the search…";
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.status === 202 && body && body.url) {
      progress.textContent = "Opening your results…";
      window.location.assign(body.url);
      return; // stay busy while the next page loads
    }
    setBusy(false);
    progress.textContent = "";
    const message = body && (body.error || body.detail);
    showError(message || `The upload failed (the server answered ${response.status}). Please try again.`);
  }

  function setBusy(value) {
    busy = value;
    button.disabled = value;
    form.setAttribute("aria-busy", value ? "true" : "false");
    button.classList.toggle("loading", value);
  }

  function showError(message) {
    alertBox.textContent = message;
    alertBox.hidden = false;
  }

  function hideError() {
    alertBox.textContent = "";
    alertBox.hidden = true;
  }
}

function hasFiles(event) {
  return event.dataTransfer && [...event.dataTransfer.types].includes("Files");
}

function csrfToken(form) {
  const field = form.querySelector("input[name=csrfmiddlewaretoken]");
  if (field && field.value) return field.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
