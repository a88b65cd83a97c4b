// The setup wizard's placeholder, which says what exists today. (The lead log is in
// pages/leads/, the health view in pages/health/.)
import { PageHeader } from '../components/layout';

const WIZARD_STEPS = ['Connect Facebook', 'Choose pages and forms', 'Connect a CRM', 'Map fields', 'Send a test lead', 'Done: the route is live'];

export function WizardPage() {
  return (
    <>
      <PageHeader title="Setup wizard" intro="Get a lead from Facebook into your CRM, step by step." />
      <ol className="steps">
        {WIZARD_STEPS.map((step) => (
          <li key={step}>{step}</li>
        ))}
      </ol>
      <div className="alert alert-info">
        <p>
          The wizard is on its way. Until then pages, CRM connections and routes are set up with the <code>leadrelay</code> command line or the{' '}
          <a href="/api/docs">REST API</a>.
        </p>
      </div>
    </>
  );
}
