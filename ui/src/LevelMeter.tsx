import { meterPercent } from "./transcript";

/** A level meter (0–100 from dBFS) whose `data-level` tests and screen readers can read. */
export function LevelMeter(props: { label: string; dbfs: number; testId: string }) {
  return (
    <meter
      class="meter"
      aria-label={props.label}
      min={0}
      max={100}
      value={meterPercent(props.dbfs)}
      data-testid={props.testId}
      data-level={meterPercent(props.dbfs)}
    />
  );
}
