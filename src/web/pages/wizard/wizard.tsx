// The setup wizard, /w/{workspace}/wizard/{step}: 1 connect Facebook → 2 choose a page and a form
// → 3 connect a CRM → 4 map fields → 5 send a test lead → 6 done. Each step has its own URL; the
// bare /wizard resumes at the first step the server's state lacks. The step list links every
// step, so any can be revisited later.
import { useEffect, useRef } from 'react';
import { Link, Navigate, useLocation, useParams, useSearchParams } from 'react-router';
import { LoadError, Loading, PageHeader } from '../../components/layout';
import { useCurrentWorkspace } from '../../lib/session';
import { useDocumentTitle } from '../../lib/use-document-title';
import { CrmStep } from './crm-step';
import { DoneStep } from './done-step';
import { FacebookStep } from './facebook-step';
import { MapStep } from './mapping-step';
import { PagesStep } from './pages-step';
import {
  completedSteps,
  type FormChoice,
  formChoiceFrom,
  isStepId,
  resumeStep,
  STEPS,
  type SetupState,
  type StepId,
  stepUrl,
  useSetupState,
} from './setup-state';
import { TestStep } from './test-step';
import './wizard.css';

const ROUTE_STEPS: StepId[] = ['map', 'test', 'done'];

/** A step's address with what it works on: the route (steps 4-6) or the picked form (step 3). */
function urlFor(workspaceId: string, step: StepId, state: SetupState, choice: FormChoice | null): string {
  if (ROUTE_STEPS.includes(step)) return stepUrl(workspaceId, step, { route: state.route?.id });
  if (step === 'crm' && choice) return stepUrl(workspaceId, step, { page: choice.page_id, form: choice.form_id });
  return stepUrl(workspaceId, step);
}

function StepList({ current, state, choice }: { current: StepId; state: SetupState; choice: FormChoice | null }) {
  const { workspace } = useCurrentWorkspace();
  const done = completedSteps(state, choice);
  return (
    <nav aria-label="Setup steps" className="wizard-steps">
      <ol>
        {STEPS.map((s, i) => {
          const isCurrent = s.id === current;
          const isDone = done.has(s.id);
          return (
            <li key={s.id} className={`${isCurrent ? 'is-current' : ''}${isDone ? ' is-done' : ''}`}>
              <Link
                to={urlFor(workspace.id, s.id, state, choice)}
                state={{ keepFocus: true }}
                aria-current={isCurrent ? 'step' : undefined}
                className="wizard-step-link"
              >
                <span className="step-marker" aria-hidden="true">
                  {isDone ? '✓' : i + 1}
                </span>
                <span className="step-name">{s.title}</span>
                {isDone && <span className="visually-hidden"> (done)</span>}
              </Link>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

const STEP_VIEWS: Record<StepId, (props: { state: SetupState }) => React.JSX.Element> = {
  facebook: FacebookStep,
  pages: PagesStep,
  crm: CrmStep,
  map: MapStep,
  test: TestStep,
  done: DoneStep,
};

export function WizardPage() {
  const { workspace } = useCurrentWorkspace();
  const step = useParams()['*'];
  const [search] = useSearchParams();
  const location = useLocation();
  const state = useSetupState(search.get('route'));
  const choice = formChoiceFrom(search, workspace.id);
  const heading = useRef<HTMLHeadingElement>(null);
  const index = STEPS.findIndex((s) => s.id === step);
  const current = STEPS[index];
  useDocumentTitle(current ? `${current.title} · Setup wizard` : 'Setup wizard');

  const keepFocus = (location.state as { keepFocus?: boolean } | null)?.keepFocus === true;
  // biome-ignore lint/correctness/useExhaustiveDependencies: focus moves when the step changes, not on every render
  useEffect(() => {
    // Moving between steps, focus goes to the new step's title (the app shell leaves it alone).
    if (keepFocus) heading.current?.focus();
  }, [step]);

  const header = <PageHeader title="Setup wizard" intro="Get a lead from Facebook into your CRM, step by step. You can leave and come back any time." />;
  if (state.isPending)
    return (
      <>
        {header}
        <Loading what="your setup" />
      </>
    );
  if (state.error)
    return (
      <>
        {header}
        <LoadError error={state.error} what="your setup" />
      </>
    );
  if (!isStepId(step) || !current) return <Navigate replace to={urlFor(workspace.id, resumeStep(state, choice), state, choice)} />;

  const View = STEP_VIEWS[current.id];
  return (
    <>
      {header}
      <StepList current={current.id} state={state} choice={choice} />
      <section className="wizard-step" aria-labelledby="wizard-step-title">
        <h2 id="wizard-step-title" ref={heading} tabIndex={-1}>
          <span className="step-count">
            Step {index + 1} of {STEPS.length}:
          </span>{' '}
          {current.title}
        </h2>
        <View state={state} />
      </section>
    </>
  );
}
