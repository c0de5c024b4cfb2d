// Progressive enhancement only: every page works without JavaScript.
// Error summary focus; "Afficher le mot de passe" toggles for password fields.
document.addEventListener("DOMContentLoaded", () => {
  // A form sent back with errors: bring its summary into view and focus it, so that a phone
  // user (and a screen reader) meets the errors first, not the top of the page.
  const summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    summary.scrollIntoView({ block: "start" });
  }

  for (const input of document.querySelectorAll('input[type="password"]')) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "reveal";
    const show = document.documentElement.lang === "en" ? "Show" : "Afficher";
    const hide = document.documentElement.lang === "en" ? "Hide" : "Masquer";
    button.textContent = show;
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", () => {
      const visible = input.type === "text";
      input.type = visible ? "password" : "text";
      button.textContent = visible ? show : hide;
      button.setAttribute("aria-pressed", String(!visible));
    });
    input.insertAdjacentElement("afterend", button);
    input.parentElement.classList.add("has-reveal");
  }
});
