// highlight.js with languages loaded on first use (each one is its own small chunk). The core
// (38 KB) loads with the first language, so a room without code blocks never fetches it.
import type { HLJSApi, LanguageFn } from 'highlight.js'
import { ref } from 'vue'

type Loader = () => Promise<{ default: LanguageFn }>

const LOADERS: Record<string, Loader> = {
  bash: () => import('highlight.js/lib/languages/bash'),
  c: () => import('highlight.js/lib/languages/c'),
  cpp: () => import('highlight.js/lib/languages/cpp'),
  csharp: () => import('highlight.js/lib/languages/csharp'),
  css: () => import('highlight.js/lib/languages/css'),
  diff: () => import('highlight.js/lib/languages/diff'),
  dockerfile: () => import('highlight.js/lib/languages/dockerfile'),
  go: () => import('highlight.js/lib/languages/go'),
  ini: () => import('highlight.js/lib/languages/ini'),
  java: () => import('highlight.js/lib/languages/java'),
  javascript: () => import('highlight.js/lib/languages/javascript'),
  json: () => import('highlight.js/lib/languages/json'),
  kotlin: () => import('highlight.js/lib/languages/kotlin'),
  makefile: () => import('highlight.js/lib/languages/makefile'),
  markdown: () => import('highlight.js/lib/languages/markdown'),
  nginx: () => import('highlight.js/lib/languages/nginx'),
  php: () => import('highlight.js/lib/languages/php'),
  python: () => import('highlight.js/lib/languages/python'),
  ruby: () => import('highlight.js/lib/languages/ruby'),
  rust: () => import('highlight.js/lib/languages/rust'),
  shell: () => import('highlight.js/lib/languages/shell'),
  sql: () => import('highlight.js/lib/languages/sql'),
  swift: () => import('highlight.js/lib/languages/swift'),
  typescript: () => import('highlight.js/lib/languages/typescript'),
  xml: () => import('highlight.js/lib/languages/xml'),
  yaml: () => import('highlight.js/lib/languages/yaml'),
}

const ALIASES: Record<string, string> = {
  sh: 'bash',
  zsh: 'bash',
  console: 'shell',
  js: 'javascript',
  jsx: 'javascript',
  mjs: 'javascript',
  ts: 'typescript',
  tsx: 'typescript',
  py: 'python',
  rb: 'ruby',
  rs: 'rust',
  golang: 'go',
  html: 'xml',
  vue: 'xml',
  svg: 'xml',
  yml: 'yaml',
  toml: 'ini',
  'c++': 'cpp',
  cs: 'csharp',
  kt: 'kotlin',
  md: 'markdown',
  docker: 'dockerfile',
  patch: 'diff',
}

/** Bumped when a language arrives, so rendered messages can redo their code blocks. */
export const languagesLoaded = ref(0)
const pending = new Set<string>()
let hljs: HLJSApi | null = null

export function canonicalLanguage(name: string): string | null {
  const lower = name.toLowerCase()
  const canonical = ALIASES[lower] ?? lower
  return canonical in LOADERS ? canonical : null
}

function load(language: string): void {
  const loader = LOADERS[language]
  if (!loader || pending.has(language)) return
  pending.add(language)
  Promise.all([import('highlight.js/lib/core'), loader()])
    .then(([core, module]) => {
      hljs = core.default
      hljs.registerLanguage(language, module.default)
      languagesLoaded.value += 1
    })
    .catch(() => pending.delete(language))
}

/** Highlighted HTML, or null when the language is unknown or still loading (then it loads). */
export function highlight(code: string, name: string): string | null {
  const language = canonicalLanguage(name)
  if (!language) return null
  if (!hljs?.getLanguage(language)) {
    load(language)
    return null
  }
  return hljs.highlight(code, { language, ignoreIllegals: true }).value
}
