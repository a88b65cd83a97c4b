// The mapping engine's public surface: schemas, apply, auto-mapping, validation, drift,
// route filters, sample leads and preview.
export * from './schema.js';
export * from './apply.js';
export * from './transforms.js';
export * from './countries.js';
export * from './names.js';
export * from './similarity.js';
export * from './rule-analysis.js';
export * from './suggest.js';
export * from './validate.js';
export * from './drift.js';
export * from './route-filter.js';
export * from './sample-lead.js';
export * from './preview.js';
