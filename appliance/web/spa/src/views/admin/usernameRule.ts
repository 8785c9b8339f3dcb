// The username rule as the browser checks it before asking the server. The server's rule is
// `USERNAME` in appliance/chat/accounts.py (it lowercases first, so capitals pass here), and
// its refusal says RULE word for word: tests/e2e/test_people.py checks the two agree.
export const USERNAME_PATTERN = '[a-zA-Z0-9._\\-]{2,32}'
export const USERNAME_RULE = "A username is 2–32 characters of a-z, 0-9, '.', '_' and '-'."

/** The browser's own "Please match the requested format." says nothing: say the rule. */
export function explainUsername(input: HTMLInputElement): void {
  input.setCustomValidity('')
  if (input.validity.patternMismatch) input.setCustomValidity(USERNAME_RULE)
}
