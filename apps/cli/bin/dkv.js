#!/usr/bin/env node
// The `dkv` command (package.json "bin"). The program is the built TypeScript in ../dist; run
// `npm run build` (or `npm start`, which builds first) after changing the sources.
import '../dist/main.js';
