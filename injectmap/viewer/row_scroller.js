// Scrolls a table's selected row into view (Tabulator does not when the selection comes from Python).
// The page is built of shadow roots: the table is found by its CSS class through them.
function findAll(root, selector, out) {
  for (const el of root.querySelectorAll("*")) {
    if (el.matches(selector)) { out.push(el) }
    if (el.shadowRoot) { findAll(el.shadowRoot, selector, out) }
  }
  return out
}

export function render({model, el}) {
  el.style.display = "none"
  const scroll = (tries) => {
    const rows = []
    for (const table of findAll(document, "." + model.table_class, [])) {
      findAll(table.shadowRoot || table, ".tabulator-row.tabulator-selected", rows)
    }
    if (!rows.length) {
      if (tries > 0) { setTimeout(() => scroll(tries - 1), 150) }
      return
    }
    for (const row of rows) { row.scrollIntoView({block: "nearest"}) }
  }
  // the selection and the table's redraw reach the browser in either order, and a redraw can reset the
  // scroll: scroll again a few times over two seconds (block "nearest" leaves a row in view where it is)
  model.on("seq", () => { for (const ms of [50, 300, 800, 1500, 2200]) { setTimeout(() => scroll(10), ms) } })
}
