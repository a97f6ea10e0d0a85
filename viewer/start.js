// Starts the viewer once every part (app.js, then each channel's view) has registered its hooks.
setupForm();
for (const f of HOOKS.setup) f();
if (MODE === "mcp-app") setupApp(); else { setupBrowser(); setupExport(); }
