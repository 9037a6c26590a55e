import "./styles.css"; import { render } from "preact"; render(<h1>hi</h1>, document.getElementById("app")!);
