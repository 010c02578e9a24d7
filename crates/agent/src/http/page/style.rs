//! The page's head: inline CSS, no external asset. Everything fits a 390 px wide phone
//! without scrolling sideways: the grid's columns shrink to the screen, the tables turn
//! into labelled lines below 640 px, cron expressions and ids never break, and long
//! words (paths, URLs, errors) wrap anywhere.

/// The start of every page, up to `<body>`; `{refresh}` is replaced by the refresh
/// meta (or nothing).
pub const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
{refresh}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1d2330;overflow-wrap:anywhere}
header{padding:1rem 2rem;background:#1d2330;color:#fff}
header .top{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header h1{margin:0;font-size:1.4rem}header h1 a{color:#fff;text-decoration:none}
header nav{display:flex;gap:1rem;flex-wrap:wrap}header nav a{color:#c5cae9}
.when{margin-left:auto;opacity:.7;font-size:.85rem}
.summary{margin:.5rem 0 0;font-size:1.05rem}
.summary.ok{color:#7fe0a0}.summary.bad{color:#ff8a80;font-weight:600}
.facts{list-style:none;margin:.4rem 0 0;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;font-size:.85rem;color:#c9ced8}
.facts .bad{color:#ff8a80}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(340px,100%),1fr));gap:1rem;padding:1.5rem 2rem}
section{background:#fff;border-radius:8px;padding:1rem 1.2rem;box-shadow:0 1px 3px rgba(0,0,0,.08);min-width:0}
section.failing{border-left:6px solid #d32f2f}section.healthy{border-left:6px solid #2e7d32}
section.jobs,section.replicas,section.wide{grid-column:1/-1}
h2{margin:0 0 .2rem;font-size:1.1rem}.path{margin:0 0 .6rem;color:#5b6475;font-family:ui-monospace,monospace;font-size:.85rem}
code,.id,time{white-space:nowrap;overflow-wrap:normal}
code,.id{font-family:ui-monospace,monospace;font-size:.85rem}
.badge{font-size:.7rem;padding:.1rem .45rem;border-radius:4px;vertical-align:middle;color:#fff;white-space:nowrap}
.badge.ok{background:#2e7d32;color:#fff}.badge.bad{background:#d32f2f;color:#fff}
.bar{height:12px;background:#e3e6ec;border-radius:6px;overflow:hidden}
.fill{height:100%}.fill.ok{background:#43a047}.fill.warn{background:#f9a825}.fill.bad{background:#e53935}
.usage{margin:.3rem 0;font-size:.85rem;color:#5b6475}
.flags{list-style:none;padding:0;margin:.4rem 0;display:flex;flex-wrap:wrap;gap:.2rem .8rem;font-size:.85rem}
.ok{color:#2e7d32}.bad{color:#d32f2f;font-weight:600}.muted{color:#5b6475}
.alerts{margin:.5rem 0;padding:.5rem .5rem .5rem 1.6rem;background:#fdecea;color:#b71c1c;border-radius:6px;font-size:.85rem}
.backup{margin:.4rem 0;font-size:.9rem}
.timeline{display:flex;gap:3px;align-items:center;flex-wrap:wrap;margin:.4rem 0}
.snap{width:9px;height:18px;background:#3f51b5;border-radius:2px;display:inline-block}
.count{margin-left:.5rem;font-size:.8rem;color:#5b6475}
.snaps{list-style:none;margin:.2rem 0;padding:0;font-size:.85rem}
.snaps li{display:flex;flex-wrap:wrap;gap:0 .6rem;padding:.15rem 0;border-bottom:1px solid #eceef2}
.snaps .added{color:#5b6475}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #eceef2;vertical-align:top}
.note{grid-column:1/-1;color:#5b6475}
.crumbs{font-size:.9rem;margin:0 0 .4rem}.crumbs [aria-current]{font-weight:600}
.picks{list-style:none;padding:0;margin:.2rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.4rem}
.picks [aria-current]{font-weight:600}
.timeline-list{list-style:none;margin:.4rem 0;padding:0 0 0 .9rem;border-left:3px solid #3f51b5}
.timeline-list li{display:flex;flex-wrap:wrap;gap:0 .8rem;padding:.25rem 0;border-bottom:1px solid #eceef2}
.actions,.pager{margin:.5rem 0}.pager a{font-weight:600}
form.pick{margin:.9rem 0 0;padding-top:.6rem;border-top:1px solid #eceef2}
form.pick h3{margin:0;font-size:1rem;flex-basis:100%}
td.num{white-space:nowrap}tr.this{background:#eef0fb}
h2+form.pick{border-top:0;margin-top:.3rem;padding-top:0}h2+form.pick h3{display:none}
td.added{color:#2e7d32}td.removed{color:#d32f2f}td.changed{color:#b26a00}
section.login{grid-column:1/-1}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
input,button,select{font:inherit;padding:.35rem .6rem;border:1px solid #b8bfcc;border-radius:6px;max-width:100%}
button{background:#3f51b5;color:#fff;border-color:#3f51b5;cursor:pointer}
button.secondary{background:#fff;color:#3f51b5}
a{color:#3f51b5}
:focus-visible{outline:3px solid #ffb300;outline-offset:2px}
.banner{margin:1rem 2rem 0;padding:.8rem 1.2rem;background:#d32f2f;color:#fff;border-radius:8px}
.banner ul{margin:.4rem 0 0;padding-left:1.4rem}
@media (max-width:640px){
header{padding:.8rem 1rem}main{padding:1rem .6rem}.banner{margin:.8rem .6rem 0}
section{padding:.8rem .9rem}
table,tbody,tr,td{display:block;width:100%}
tr.head{display:none}
tr{border-bottom:1px solid #eceef2;padding:.4rem 0}
td{border:0;padding:.05rem 0}
td[data-label]::before{content:attr(data-label) ": ";color:#5b6475}
table.compact td{display:inline-block;width:auto;margin-right:.8rem;color:#5b6475;font-size:.85rem}
table.compact td:first-child{display:block;color:inherit;font-size:inherit}
table.compact td[data-label]::before{content:none}
}
</style>
</head>
<body>
"#;

/// [`HEAD`] with its title and, when `refresh`, a 30 s refresh.
pub fn head(title: &str, refresh: bool) -> String {
    HEAD.replace(
        "{refresh}",
        if refresh {
            "<meta http-equiv=\"refresh\" content=\"30\">\n"
        } else {
            ""
        },
    )
    .replace("{title}", &super::esc(title))
}
