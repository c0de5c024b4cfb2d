// Registry name autocomplete (signup by profile, ADR 0019). Progressive enhancement of the
// plain GET search form: without this script the form lists the names as radio buttons.
// ARIA 1.2 combobox pattern: the input owns a listbox; arrows move, Enter picks, Escape closes.
// Picking a name posts the signed token through the page's hidden #choose-form (CSRF token).
(() => {
  "use strict";
  const input = document.querySelector("input[data-autocomplete-url]");
  if (!input) return;
  const chooseForm = document.getElementById(input.dataset.chooseForm);
  if (!chooseForm) return;
  const english = document.documentElement.lang === "en";
  const say = {
    found: (n) => english
      ? `${n} name${n > 1 ? "s" : ""} found, use the up and down arrows to choose.`
      : `${n} nom${n > 1 ? "s" : ""} trouvé${n > 1 ? "s" : ""}, flèches haut et bas pour choisir.`,
    none: english ? "No name found." : "Aucun nom trouvé.",
    council: english ? "Regional council" : "Conseil régional",
    label: english ? "Names of the Order's registry" : "Noms du tableau de l'Ordre",
  };
  const minLetters = 3;
  const listbox = document.createElement("ul");
  listbox.id = `${input.id}-listbox`;
  listbox.className = "autocomplete-list";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", say.label);
  listbox.hidden = true;
  const status = document.createElement("p");
  status.className = "autocomplete-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  input.insertAdjacentElement("afterend", listbox);
  listbox.insertAdjacentElement("afterend", status);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listbox.id);

  let options = [];
  let active = -1;
  let timer = null;
  let pending = null;

  const letters = (text) => text.normalize("NFKD").replace(/[^A-Za-z0-9]/g, "").length;

  function close() {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function choose(index) {
    const option = options[index];
    if (!option) return;
    chooseForm.querySelector('input[name="candidate"]').value = option.dataset.token;
    input.value = option.dataset.name;
    close();
    chooseForm.submit();
  }

  function show(results) {
    listbox.replaceChildren();
    options = results.map((result, i) => {
      const option = document.createElement("li");
      option.id = `${input.id}-option-${i}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.token = result.token;
      option.dataset.name = result.name;
      const name = document.createElement("strong");
      name.textContent = result.name; // text, never HTML: names come from council files
      const council = document.createElement("span");
      council.className = "hint";
      council.textContent = `${say.council} ${result.council}`;
      option.append(name, council);
      option.addEventListener("mousedown", (event) => event.preventDefault());
      option.addEventListener("click", () => choose(i));
      listbox.append(option);
      return option;
    });
    status.textContent = results.length ? say.found(results.length) : say.none;
    if (!results.length) {
      close();
      return;
    }
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(-1);
  }

  async function search() {
    const query = input.value;
    if (letters(query) < minLetters) {
      close();
      status.textContent = "";
      return;
    }
    if (pending) pending.abort();
    pending = new AbortController();
    try {
      const url = `${input.dataset.autocompleteUrl}?q=${encodeURIComponent(query)}`;
      const response = await fetch(url, {
        signal: pending.signal,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) {
        close();
        status.textContent = body.error || "";
        return;
      }
      show(body.results || []);
    } catch (error) {
      if (error.name !== "AbortError") close(); // the plain form still works
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      if (listbox.hidden) {
        if (options.length) { listbox.hidden = false; input.setAttribute("aria-expanded", "true"); }
        else return;
      }
      event.preventDefault();
      highlight(Math.min(active + 1, options.length - 1));
    } else if (event.key === "ArrowUp") {
      if (listbox.hidden) return;
      event.preventDefault();
      highlight(Math.max(active - 1, 0));
    } else if (event.key === "Enter") {
      if (!listbox.hidden && active >= 0) {
        event.preventDefault();
        choose(active);
      }
    } else if (event.key === "Escape") {
      if (!listbox.hidden) {
        event.preventDefault();
        close();
      }
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
})();
