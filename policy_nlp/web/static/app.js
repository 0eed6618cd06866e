// Progressive enhancement only: every page works without this script.
"use strict";

// A change of ranking mode re-runs the search.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});

// "预览上下文": show the paragraph with the ones before and after it, inside the result.
function paragraphBlock(p, current) {
  const div = document.createElement("div");
  if (current) div.className = "current";
  const section = document.createElement("div");
  section.className = "section";
  section.textContent = p.section_path.join(" › ") || "(正文开头)";
  const text = document.createElement("p");
  text.textContent = p.text;
  div.append(section, text);
  return div;
}

async function togglePreview(button) {
  const box = button.closest(".hit").querySelector(".context-preview");
  if (!box.hidden) { box.hidden = true; return; }
  if (!box.childElementCount) {
    const response = await fetch("/api/docs/" + encodeURIComponent(button.dataset.doc));
    const body = await response.json();
    if (!response.ok) { box.textContent = body.error; box.hidden = false; return; }
    const at = body.paragraphs.findIndex((p) => p.para_id === Number(button.dataset.para));
    body.paragraphs.slice(Math.max(0, at - 1), at + 2).forEach((p) => box.append(paragraphBlock(p, p.para_id === Number(button.dataset.para))));
  }
  box.hidden = false;
}

document.querySelectorAll("button.preview").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => togglePreview(button));
});
