// The phone page of snapbuy: a photo in, the best matches and lookalikes at every price out.
// No framework and no build step. Every piece of an answer is put on the page with textContent or as
// an attribute of an element built here, never as HTML: product titles come from a shop's feed.
// The photo stays in this page's memory only (to draw it and to send it again with words); it is
// never written to storage.
"use strict";

(() => {
  const API_KEY_STORAGE = "snapbuy.apiKey";
  // Phone photos are shrunk before upload: the model looks at a few hundred pixels, and a 12 MP photo
  // would cost seconds on a mobile network (and may pass the server's upload limit).
  const MAX_UPLOAD_SIDE = 1600;
  const UPLOAD_JPEG_QUALITY = 0.9;
  // The photo is drawn at most this wide or tall; the canvas is scaled by CSS to the screen.
  const MAX_PREVIEW_SIDE = 900;
  // The boxes on the photo: the product shown in the accent colour, the others in ink (style.css).
  const ACCENT = "#e2511a";
  const INK = "#1c1d21";
  const BOX_SOURCES = {
    localiser: "found in your photo",
    client: "the place you chose",
    "crop grid": "searched across your photo",
    photo: "your whole photo",
  };
  const AVAILABILITY = {
    in_stock: "In stock",
    out_of_stock: "Out of stock",
    preorder: "Preorder",
    backorder: "Backorder",
  };

  const byId = (id) => document.getElementById(id);
  const els = {
    photoInput: byId("photo-input"),
    status: byId("status"),
    error: byId("error"),
    query: byId("query"),
    canvas: byId("photo-canvas"),
    photoMissing: byId("photo-missing"),
    products: byId("products"),
    productButtons: byId("product-buttons"),
    summary: byId("query-summary"),
    refineForm: byId("refine-form"),
    refineText: byId("refine-text"),
    refineButton: byId("refine-button"),
    matchesSection: byId("matches-section"),
    matches: byId("matches"),
    tiersSection: byId("tiers-section"),
    tiers: byId("tiers"),
    settings: byId("settings"),
    keyForm: byId("key-form"),
    keyInput: byId("api-key"),
  };

  // The photo being searched (the bytes sent, and the picture drawn), and the blob: URLs of the served
  // product images on the page, released when the next answer replaces them (`servedImages`: the
  // answer's images by SKU, shared by all its products).
  // `searches` counts the searches sent: only the latest one's answer is shown.
  // `products`: the products found in the photo, the `groups` of its latest answer searched without a
  // box (several when the photo shows several products); `selected`: the one shown. `answer` is the
  // answer on screen and `words` the words it was searched with; `answerFor` is null when the answer
  // holds every product, else the index of the one product it was asked about (a refinement of a
  // product other than the first is sent with that product's box).
  const state = {
    upload: null,
    bitmap: null,
    imageUrls: [],
    servedImages: new Map(),
    busy: false,
    searches: 0,
    products: [],
    selected: 0,
    answer: null,
    words: "",
    answerFor: null,
  };

  // --- the API key (only for servers configured with keys) ---

  function storedKey() {
    try {
      return localStorage.getItem(API_KEY_STORAGE) || "";
    } catch {
      return ""; // storage blocked (private mode): the key lives in the field only
    }
  }

  function currentKey() {
    return els.keyInput.value.trim() || storedKey();
  }

  function saveKey(key) {
    try {
      if (key) localStorage.setItem(API_KEY_STORAGE, key);
      else localStorage.removeItem(API_KEY_STORAGE);
    } catch {
      // storage blocked: the key still works for this visit
    }
  }

  function authHeaders() {
    const key = currentKey();
    return key ? { "X-API-Key": key } : {};
  }

  // --- messages ---

  function showStatus(text) {
    els.status.textContent = text;
  }

  function showError(text) {
    els.error.textContent = text || "";
    els.error.hidden = !text;
    // A refinement's error would otherwise appear above the screen the shopper scrolled to.
    if (text) els.error.scrollIntoView({ block: "nearest" });
  }

  function setBusy(busy) {
    state.busy = busy;
    els.refineButton.disabled = busy || !state.upload;
    els.refineText.disabled = busy || !state.upload;
    for (const button of els.productButtons.querySelectorAll("button")) button.disabled = busy;
    document.body.classList.toggle("busy", busy);
  }

  async function errorBody(response) {
    try {
      const body = await response.json();
      if (body && body.error) return { code: String(body.error.code || ""), message: String(body.error.message || "") };
    } catch {
      // not JSON (a proxy's page): the status alone says enough
    }
    return { code: "", message: "" };
  }

  // A failed answer in plain words: what happened and what the shopper can do about it.
  async function describeFailure(response) {
    const { code, message } = await errorBody(response);
    const retry = response.headers.get("Retry-After");
    switch (response.status) {
      case 401:
        els.settings.open = true;
        return "This server needs an API key. Enter it under “API key” below, then try again.";
      case 408:
        return "Sending the photo took too long. Check your connection and try again.";
      case 413:
        return "That photo is too large. Try a smaller photo or a screenshot of it.";
      case 415:
        return "That file is not an image snapbuy can read. Use a JPEG, PNG, WebP or HEIC photo.";
      case 422:
        if (code === "invalid_image" || code === "corrupt_image") {
          return "That file is not an image snapbuy can read, or it is damaged. Try another photo.";
        }
        return `The server could not use this request (bad request): ${message || "no reason given"}.`;
      case 429:
        return `Too many searches for now. Try again${retry ? ` in ${retry} seconds` : " in a moment"}.`;
      case 503:
        return "The server is busy, try again in a moment.";
      case 504:
        return "The search took too long, try again in a moment.";
      default:
        return `Something went wrong on the server (HTTP ${response.status}). Try again in a moment.`;
    }
  }

  // --- the photo ---

  // The bytes to send and the upright picture to draw. A photo the browser can decode is sent as a
  // JPEG no larger than MAX_UPLOAD_SIDE (upright: the browser applies its EXIF orientation); any other
  // file (HEIC in some browsers, or not an image at all) is sent as it is, for the server to judge.
  async function preparePhoto(file) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      return { upload: file, bitmap: null };
    }
    const scale = Math.min(1, MAX_UPLOAD_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1) return { upload: file, bitmap };
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", UPLOAD_JPEG_QUALITY));
    return { upload: blob || file, bitmap };
  }

  // The photo with the places searched outlined: `boxes` (shares 0-1 of the upright photo), numbered
  // from 1 when there are several, the one at `selected` in the accent colour and drawn last (on top).
  function drawPhoto(boxes, selected) {
    const bitmap = state.bitmap;
    els.canvas.hidden = !bitmap;
    els.photoMissing.hidden = Boolean(bitmap);
    if (!bitmap) return;
    const scale = Math.min(1, MAX_PREVIEW_SIDE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = els.canvas;
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0, width, height);
    const numbered = boxes.length > 1;
    const order = boxes.map((box, index) => index).filter((index) => index !== selected);
    if (selected >= 0 && selected < boxes.length) order.push(selected);
    for (const index of order) {
      if (boxes[index]) drawBox(ctx, boxes[index], index === selected, numbered ? index + 1 : null);
    }
  }

  // One box on the photo's canvas; `number`, when given, in a tag at its top left corner.
  function drawBox(ctx, box, highlighted, number) {
    const { width, height } = ctx.canvas;
    const x = box.x0 * width;
    const y = box.y0 * height;
    const w = (box.x1 - box.x0) * width;
    const h = (box.y1 - box.y0) * height;
    const line = Math.max(3, Math.round(Math.max(width, height) / 150));
    const inner = highlighted ? line : Math.max(2, Math.round(line / 2));
    // A light edge around a dark one: the box shows on bright and dark photos alike.
    ctx.lineWidth = inner * 2;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.strokeRect(x, y, w, h);
    ctx.lineWidth = inner;
    ctx.strokeStyle = highlighted ? ACCENT : INK;
    ctx.strokeRect(x, y, w, h);
    if (number === null) return;
    // The tag stays inside the photo however close the box comes to its edges.
    const side = Math.max(20, Math.round(Math.max(width, height) / 14));
    const left = Math.min(Math.max(0, x), width - side);
    const top = Math.min(Math.max(0, y), height - side);
    ctx.fillStyle = "rgba(255, 255, 255, 0.9)";
    ctx.fillRect(left, top, side, side);
    ctx.fillStyle = highlighted ? ACCENT : INK;
    ctx.fillRect(left + 2, top + 2, side - 4, side - 4);
    ctx.fillStyle = "#ffffff";
    ctx.font = `700 ${Math.round(side * 0.6)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(String(number), left + side / 2, top + side / 2 + 1);
  }

  // The product whose box is under a tap at (clientX, clientY) on the photo, or -1. The canvas is
  // scaled to fit its frame (object-fit: contain), so the picture may not fill the element. Where boxes
  // overlap, the smallest one under the tap wins: a product's own box lies inside a larger one.
  function productAt(clientX, clientY) {
    const canvas = els.canvas;
    const rect = canvas.getBoundingClientRect();
    if (!canvas.width || !canvas.height || !rect.width || !rect.height) return -1;
    const fit = Math.min(rect.width / canvas.width, rect.height / canvas.height);
    const drawnWidth = canvas.width * fit;
    const drawnHeight = canvas.height * fit;
    const sx = (clientX - rect.left - (rect.width - drawnWidth) / 2) / drawnWidth;
    const sy = (clientY - rect.top - (rect.height - drawnHeight) / 2) / drawnHeight;
    let found = -1;
    let foundArea = Infinity;
    state.products.forEach((product, index) => {
      const box = product.box;
      if (!box || sx < box.x0 || sx > box.x1 || sy < box.y0 || sy > box.y1) return;
      const area = (box.x1 - box.x0) * (box.y1 - box.y0);
      if (area < foundArea) {
        found = index;
        foundArea = area;
      }
    });
    return found;
  }

  // --- products ---

  function formatPrice(amount, currency) {
    if (amount === null || amount === undefined) return "";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 2 }).format(amount);
    } catch {
      return `${Number(amount).toFixed(2)} ${currency || ""}`.trim(); // a currency Intl does not know
    }
  }

  function isWebAddress(link) {
    return typeof link === "string" && /^https?:\/\//i.test(link);
  }

  // A product image: the feed's own URL when it is a web address; else the thumbnail the server
  // serves, fetched with the API key (an <img> cannot send one) and shown through a blob: URL.
  function productImage(item, servedImages) {
    if (!item.image_link) return missingImage();
    const img = document.createElement("img");
    img.className = "thumb";
    img.alt = "";
    img.decoding = "async";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("error", () => img.replaceWith(missingImage()));
    if (isWebAddress(item.image_link)) {
      img.src = item.image_link;
    } else {
      servedImage(item.sku, servedImages).then((url) => {
        if (url) img.src = url;
        else img.replaceWith(missingImage());
      });
    }
    return img;
  }

  // A grey square where a product has no picture to show, so the cards stay aligned.
  function missingImage() {
    const placeholder = element("div", "thumb missing");
    placeholder.setAttribute("aria-hidden", "true");
    return placeholder;
  }

  // One fetch per product per answer, though a product may be listed in matches and in a tier.
  function servedImage(sku, servedImages) {
    if (!servedImages.has(sku)) {
      const url = new URL(`v1/products/${encodeURIComponent(sku)}/image`, document.baseURI);
      const loading = fetch(url, { headers: authHeaders() })
        .then((response) => (response.ok ? response.blob() : null))
        .then((blob) => {
          if (!blob) return null;
          const objectUrl = URL.createObjectURL(blob);
          state.imageUrls.push(objectUrl);
          return objectUrl;
        })
        .catch(() => null);
      servedImages.set(sku, loading);
    }
    return servedImages.get(sku);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // `child` inside a link to the product's page when it has one, else as it is.
  function linked(link, child) {
    if (!isWebAddress(link)) return child;
    const anchor = document.createElement("a");
    anchor.href = link;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    anchor.append(child);
    return anchor;
  }

  function variantList(variants) {
    const list = element("ul", "variants");
    for (const variant of variants) {
      const entry = element("li", variant.availability === "out_of_stock" ? "sold-out" : "");
      const text = `${variant.title} · ${formatPrice(variant.price_paid, variant.currency)}`;
      entry.append(linked(variant.link, element("span", "", text)));
      list.append(entry);
    }
    return list;
  }

  function productCard(item, servedImages) {
    const card = element("li", "card");
    card.dataset.sku = item.sku;
    const body = element("div", "card-body");
    body.append(productImage(item, servedImages));
    body.append(element("span", "title", item.title));
    if (item.brand) body.append(element("span", "brand", item.brand));
    const price = element("span", "price", formatPrice(item.price_paid, item.currency));
    if (item.price_paid < item.price) {
      price.append(" ", element("s", "was", formatPrice(item.price, item.currency)));
    }
    body.append(price);
    const availability = AVAILABILITY[item.availability] || item.availability;
    body.append(element("span", `availability ${item.availability}`, availability));
    card.append(linked(item.link, body));
    if (item.variants && item.variants.length) {
      const more = element("details", "more");
      const count = Math.max(item.variant_count || 0, item.variants.length);
      more.append(element("summary", "", `${count} more ${count === 1 ? "variant" : "variants"}`));
      more.append(variantList(item.variants));
      card.append(more);
    }
    return card;
  }

  function tierRange(tier, currency) {
    const low = tier.min_price === null ? null : formatPrice(tier.min_price, currency);
    const high = tier.max_price === null ? null : formatPrice(tier.max_price, currency);
    if (low && high) return `${low} – ${high}`;
    if (high) return `under ${high}`;
    if (low) return `from ${low}`;
    return "any price";
  }

  // The currency of an answer's products (or of one product's: a group has matches and tiers too).
  function answerCurrency(answer) {
    const items = answer.matches.concat(...answer.tiers.map((tier) => tier.items));
    return items.length ? items[0].currency : "";
  }

  // --- an answer ---

  // What was searched, in words: the category, how the product was found in the photo, and how the
  // server read the refinement (`query.words`: the text searched, the phrases read as prices).
  // `shown`: the product on screen, its category and box_source.
  function querySummary(query, shown, words) {
    const parts = [`Looks like: ${shown.category}`];
    const how = BOX_SOURCES[shown.box_source];
    if (how) parts.push(how);
    const read = query.words;
    if (read) {
      if (read.text) parts.push(`refined with “${read.text}”`);
      for (const phrase of read.price_phrases || []) parts.push(`price: ${phrase}`);
    } else if (words) {
      parts.push(`refined with “${words}”`);
    }
    return parts.join(" · ");
  }

  function clearResults() {
    for (const url of state.imageUrls) URL.revokeObjectURL(url);
    state.imageUrls = [];
    state.servedImages = new Map();
    els.matches.replaceChildren();
    els.tiers.replaceChildren();
    els.matchesSection.hidden = true;
    els.tiersSection.hidden = true;
  }

  // Forget the products of the previous photo.
  function clearProducts() {
    state.products = [];
    state.selected = 0;
    state.answer = null;
    state.answerFor = null;
    els.productButtons.replaceChildren();
    els.products.hidden = true;
    els.canvas.classList.remove("pickable");
  }

  function several() {
    return state.products.length > 1;
  }

  // The product on screen: its category, how it was found, its matches and tiers. With several
  // products in the photo, the selected one's group of the answer, or the whole answer when it was
  // asked about that product alone; else the answer itself, as it always was.
  function shownProduct() {
    const answer = state.answer;
    const query = answer.query || {};
    if (several() && state.answerFor === null) return state.products[state.selected];
    const found = several() ? state.products[state.selected] : query;
    return {
      category: query.category,
      box_source: found.box_source,
      box: found.box,
      matches: answer.matches,
      tiers: answer.tiers,
    };
  }

  // The row of buttons, one per product found in the photo (only when there are several).
  function renderProductButtons() {
    els.products.hidden = !several();
    els.canvas.classList.toggle("pickable", several());
    els.canvas.setAttribute(
      "aria-label",
      several()
        ? `Your photo, with the ${state.products.length} products found in it numbered`
        : "Your photo, with the place searched marked",
    );
    if (!several()) {
      els.productButtons.replaceChildren();
      return;
    }
    els.productButtons.replaceChildren(
      ...state.products.map((product, index) => {
        const button = element("button", "product-choice");
        button.type = "button";
        button.dataset.product = String(index);
        button.setAttribute("aria-pressed", String(index === state.selected));
        button.disabled = state.busy;
        // Shows as "2 shoes", the number in a tag like the one on the photo; read as "Product 2 shoes".
        button.append(
          element("span", "visually-hidden", "Product "),
          element("span", "product-number", String(index + 1)),
          " ",
          element("span", "product-category", product.category),
        );
        return button;
      }),
    );
  }

  function render(answer, words, answerFor, selected) {
    clearResults();
    state.answer = answer;
    state.words = words;
    state.answerFor = answerFor;
    if (answerFor === null) {
      state.products = Array.isArray(answer.groups) ? answer.groups.filter((group) => group && group.box) : [];
      state.selected = selected < state.products.length ? selected : 0;
    } else {
      state.selected = answerFor;
    }
    renderProductButtons();
    showProduct();
  }

  // The photo, the summary, the matches and the tiers of the product selected.
  function showProduct() {
    const answer = state.answer;
    const query = answer.query || {};
    const shown = shownProduct();
    if (several()) drawPhoto(state.products.map((product) => product.box), state.selected);
    else drawPhoto(query.box ? [query.box] : [], 0);
    els.query.hidden = false;
    els.summary.textContent = querySummary(query, shown, state.words);

    const servedImages = state.servedImages;
    els.tiers.replaceChildren();
    els.matches.replaceChildren(...shown.matches.map((item) => productCard(item, servedImages)));
    els.matchesSection.hidden = false;
    if (!shown.matches.length) {
      els.matches.append(element("li", "empty", "No matching products."));
    }

    const currency = answerCurrency(shown);
    for (const tier of shown.tiers) {
      const section = element("section", "tier");
      section.dataset.tier = tier.name;
      const heading = element("h3", "", tier.name.charAt(0).toUpperCase() + tier.name.slice(1));
      heading.append(" ", element("span", "range", tierRange(tier, currency)));
      section.append(heading);
      const row = element("ul", "cards row");
      row.replaceChildren(...tier.items.map((item) => productCard(item, servedImages)));
      if (!tier.items.length) row.append(element("li", "empty", "Nothing in this price range."));
      section.append(row);
      els.tiers.append(section);
    }
    els.tiersSection.hidden = shown.tiers.length === 0;
  }

  // Show the photo's product at `index` (a tap on its button or its box): at once when the answer on
  // screen holds it, else by asking about it with the same words.
  function selectProduct(index) {
    if (state.busy || !several() || index < 0 || index >= state.products.length) return;
    if (index === state.selected) return;
    if (state.answerFor !== null) {
      search(state.words, index);
      return;
    }
    state.selected = index;
    for (const button of els.productButtons.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.product === String(index)));
    }
    showProduct();
  }

  // "x0,y0,x1,y1": a box as the search's `box` parameter takes it.
  function boxParameter(box) {
    return [box.x0, box.y0, box.x1, box.y1].join(",");
  }

  // POST the photo to /v1/search, with `words` (the refinement) as q when given, about the photo's
  // product at `product` (the one selected unless told). With words, a product other than the first is
  // sent with its box and for it alone (max_products=1), so the words refine that product; the first
  // one's answer is the photo's own, holding every product.
  async function search(words, product = state.selected) {
    if (!state.upload) return;
    const searchNumber = ++state.searches;
    const isLatest = () => searchNumber === state.searches;
    const url = new URL("v1/search", document.baseURI);
    if (words) url.searchParams.set("q", words);
    const boxed = Boolean(words) && several() && product > 0 && product < state.products.length;
    if (boxed) {
      url.searchParams.set("box", boxParameter(state.products[product].box));
      url.searchParams.set("max_products", "1");
    }
    const form = new FormData();
    form.append("image", state.upload, "photo.jpg");
    setBusy(true);
    showError("");
    showStatus(words ? "Searching with your words…" : "Searching…");
    try {
      let response;
      try {
        response = await fetch(url, { method: "POST", body: form, headers: authHeaders() });
      } catch {
        if (isLatest()) showError("Could not reach the server. Check your connection and try again.");
        return;
      }
      if (!response.ok) {
        const failure = await describeFailure(response);
        if (isLatest()) showError(failure);
        return;
      }
      let answer;
      try {
        answer = await response.json();
      } catch {
        if (isLatest()) showError("The server's answer could not be read. Try again in a moment.");
        return;
      }
      if (isLatest()) render(answer, words, boxed ? product : null, product);
    } finally {
      if (isLatest()) {
        showStatus("");
        setBusy(false);
      }
    }
  }

  async function onPhotoChosen() {
    const file = els.photoInput.files && els.photoInput.files[0];
    els.photoInput.value = ""; // the same photo may be chosen again
    if (!file) return;
    clearResults();
    clearProducts();
    els.query.hidden = true;
    els.refineText.value = "";
    if (state.bitmap) state.bitmap.close();
    showStatus("Preparing the photo…");
    const prepared = await preparePhoto(file);
    state.upload = prepared.upload;
    state.bitmap = prepared.bitmap;
    if (state.bitmap) {
      drawPhoto([], 0); // the photo shows while it is searched; the places found are drawn on the answer
      els.summary.textContent = "";
      els.query.hidden = false;
    }
    await search("");
  }

  els.photoInput.addEventListener("change", onPhotoChosen);
  els.productButtons.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-product]");
    if (button) selectProduct(Number(button.dataset.product));
  });
  // A tap on a product's box in the photo selects it too (the buttons do the same for keyboards and
  // screen readers).
  els.canvas.addEventListener("click", (event) => {
    if (several()) selectProduct(productAt(event.clientX, event.clientY));
  });
  els.refineForm.addEventListener("submit", (event) => {
    event.preventDefault();
    search(els.refineText.value.trim());
  });
  els.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey(els.keyInput.value.trim());
    els.settings.open = false;
    if (state.upload) search(els.refineText.value.trim());
  });
  els.keyInput.value = storedKey();
  setBusy(false);
})();
