// The browser window's one job at a time (Jobs): a job run by a page's request stays under way until the
// request's answer is made and kept. The image copy opens the copy and checks its files after the copy
// itself; in that moment the window said "nothing under way, nothing ended", and a page reloaded during the
// copy showed the card instead of the copy's end (a CI run caught it as a missing "Done").

import { describe, expect, it } from 'vitest';
import { type JobScope, Jobs, jobScope } from '../../src/actions/gui/jobs.js';

describe('Jobs', () => {
  it("a request's job is under way until its answer is kept, then ended with it", async () => {
    const events: string[] = [];
    const jobs = new Jobs((event) => events.push(event));
    const scope: JobScope = {};
    await jobScope.run(scope, async () => {
      expect(await jobs.run('Copy the card to an image file', 'bytes', async () => 1)).toBe(1);
      // The work is over, the answer not made yet (the copy is being opened): still under way, and no other job.
      expect(jobs.busy).toBe('Copy the card to an image file');
      expect(jobs.finished).toBeNull();
      await expect(jobs.run('Make a backup', 'files', async () => 2)).rejects.toMatchObject({ code: 'BUSY' });
      // Its own request may open the copy; another request (another tab choosing a disk) may not.
      expect(jobs.busyElsewhere).toBeNull();
      expect(jobScope.run({}, () => jobs.busyElsewhere)).toBe('Copy the card to an image file');
    });
    jobs.ended(scope, { lines: ['Copied.'], card: null }, null);
    expect(jobs.busy).toBeNull();
    expect(jobs.finished).toMatchObject({ seq: 1, job: 'Copy the card to an image file', answer: { lines: ['Copied.'] } });
    expect(events).toEqual(['finished']);
  });

  it('a job that failed is ended by its error; a job run outside a request ends with its work', async () => {
    const jobs = new Jobs(() => undefined);
    const scope: JobScope = {};
    await jobScope.run(scope, () => expect(jobs.run('Make a backup', 'files', async () => {
      throw new Error('no room');
    })).rejects.toThrow('no room'));
    expect(jobs.busy).toBe('Make a backup');
    jobs.ended(scope, null, { code: 'INTERNAL', message: 'no room', hint: null, cardFailing: false, repairAtStart: false });
    expect(jobs.busy).toBeNull();
    expect(jobs.finished?.error?.message).toBe('no room');
    expect(await jobs.run('Export the configuration', 'files', async () => 3)).toBe(3);
    expect(jobs.busy).toBeNull();
  });
});
